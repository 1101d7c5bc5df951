import type { OutgoingHttpHeaders } from "node:http";
import type { FastifyReply, FastifyRequest } from "fastify";
import { revocationEventsRoute } from "../../contract/index.js";
import type { ServiceCaller } from "../../services/host.js";
import type { RevocationStream, StreamSink } from "../../services/revocation-stream.js";
import { type ContractApp, routeOptions } from "../contract-route.js";

export interface ServiceEventsContext {
  stream: RevocationStream;
  /** Authenticates `Authorization: Bearer <service key>`, or throws `invalid_token`. */
  authenticate(request: FastifyRequest): Promise<ServiceCaller>;
  /**
   * Most bytes a stream queues for a reader that is slower than the events. Past it, the
   * hub writes nothing more to that stream until it drains, and then catches it up from
   * storage: a slow reader costs at most this, and never holds up the others.
   */
  maxBufferedBytes: number;
}

/** `GET /api/v1/service/events`: the revocation stream (server-sent events). */
export function serviceEventsRoutes(api: ContractApp, context: ServiceEventsContext): void {
  // Open streams never end on their own: end them first, or closing the server would wait.
  api.addHook("preClose", async () => {
    await context.stream.close();
  });
  api.route({
    ...routeOptions(revocationEventsRoute),
    handler: async (request, reply) => {
      const caller = await context.authenticate(request);
      // HEAD (which Fastify adds for every GET) asks for the stream's headers alone: Node
      // writes no body to it, so a stream would never start, and would hold one of the
      // key's stream slots until the connection timed out. It is refused as a GET would be.
      if (request.method === "HEAD") {
        context.stream.checkRoomFor(caller.keyId);
        reply.hijack();
        reply.raw.writeHead(200, streamHeaders(reply)).end();
        return;
      }
      const header = request.headers["last-event-id"];
      const lastEventId = typeof header === "string" ? header.trim() : undefined;
      const sink = new ResponseSink(request, reply, context.maxBufferedBytes);
      // Refusals (too many streams, storage down) come before anything is written, so
      // they are answered as problems like any other; the first write starts the stream.
      const open = await context.stream.open({
        applicationId: caller.applicationId,
        keyId: caller.keyId,
        lastEventId,
        sink,
      });
      reply.raw.on("close", () => {
        open.close();
        request.log.info(
          { res: { statusCode: 200 }, responseTime: reply.elapsedTime, keyId: caller.keyId },
          "event stream closed",
        );
      });
      if (reply.raw.destroyed) open.close();
    },
  });
}

/** The headers every answer carries (security headers), then the stream's own. */
function streamHeaders(reply: FastifyReply): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(reply.getHeaders())) {
    if (value !== undefined) headers[name] = value;
  }
  return {
    ...headers,
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-store",
    // Proxies that buffer answers (nginx) would hold events back.
    "x-accel-buffering": "no",
  };
}

/** A stream's response, taken over from Fastify at its first write. */
class ResponseSink implements StreamSink {
  private started = false;

  constructor(
    private readonly request: FastifyRequest,
    private readonly reply: FastifyReply,
    private readonly maxBufferedBytes: number,
  ) {}

  write(text: string): boolean {
    const raw = this.reply.raw;
    if (raw.destroyed || raw.writableEnded) return false;
    if (!this.started) this.start();
    raw.write(text);
    // `write` says false from 16 KiB on, which a burst of 150 events reaches before the
    // socket has had a chance to send: the bound is ours. Past it, 'drain' is sure to come
    // once the reader has taken everything, since a `write` past 16 KiB said false.
    return raw.writableLength <= this.maxBufferedBytes;
  }

  onDrain(listener: () => void): void {
    this.reply.raw.once("drain", listener);
  }

  end(): void {
    const raw = this.reply.raw;
    if (!this.started || raw.destroyed) return;
    raw.end();
  }

  abort(): void {
    this.reply.raw.destroy();
  }

  private start(): void {
    this.started = true;
    this.reply.hijack();
    // Each event goes out in its own packet, at once.
    this.request.raw.socket.setNoDelay(true);
    this.reply.raw.writeHead(200, streamHeaders(this.reply));
  }
}
