// The same small protected API in each framework, behind its keyward-client adapter:
// GET /api (any valid token), GET /api/scopes/read and /api/scopes/write (that scope).

import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import express from "express";
import Fastify, { type FastifyRequest } from "fastify";
import { type Context, Hono } from "hono";
import type { KeywardClient } from "../../src/client.js";
import { keyward as expressKeyward } from "../../src/express.js";
import { keyward as fastifyKeyward } from "../../src/fastify.js";
import { keyward as honoKeyward, type KeywardVariables } from "../../src/hono.js";

export interface RunningApp {
  name: string;
  url: string;
  close(): Promise<void>;
}

/** How an app finds its client's address, when not from the connection. */
export interface AppOptions {
  /** Passes the adapter a `clientAddress` option that reads this request header. */
  clientAddressHeader?: string;
  /** Passes the adapter a `clientAddress` option that throws this. */
  clientAddressError?: Error;
  /** The adapter's `onError`. */
  onError?: (error: unknown) => void;
  /**
   * Trusts the X-Forwarded-For of a proxy on the loopback, by the framework's own setting
   * (Express and Fastify; Hono has none, hence the adapter's `clientAddress` option).
   */
  trustLoopbackProxy?: boolean;
}

const SCOPES = ["read", "write"] as const;

/** The adapter's `clientAddress` option, given a reader of a request header. */
function clientAddressOption<R>(
  options: AppOptions,
  header: (request: R, name: string) => string | undefined,
): ((request: R) => string | undefined) | undefined {
  const { clientAddressHeader: name, clientAddressError: error } = options;
  if (error) {
    return () => {
      throw error;
    };
  }
  return name ? (request) => header(request, name) : undefined;
}

export async function startFastifyApp(
  client: KeywardClient,
  options: AppOptions = {},
): Promise<RunningApp> {
  const app = Fastify({ trustProxy: options.trustLoopbackProxy ? "127.0.0.1" : false });
  await app.register(async (api) => {
    await api.register(fastifyKeyward, {
      client,
      onError: options.onError,
      clientAddress: clientAddressOption<FastifyRequest>(options, (request, name) =>
        request.headers[name]?.toString(),
      ),
    });
    api.get("/api", async (request) => ({ tokenId: request.keyward?.tokenId }));
  });
  for (const scope of SCOPES) {
    await app.register(async (api) => {
      await api.register(fastifyKeyward, { client, scopes: [scope] });
      api.get(`/api/scopes/${scope}`, async () => ({ scope }));
    });
  }
  await app.listen({ port: 0, host: "127.0.0.1" });
  const { port } = app.server.address() as AddressInfo;
  return { name: "fastify", url: `http://127.0.0.1:${port}`, close: () => app.close() };
}

export async function startExpressApp(
  client: KeywardClient,
  options: AppOptions = {},
): Promise<RunningApp> {
  const app = express();
  if (options.trustLoopbackProxy) app.set("trust proxy", "loopback");
  const clientAddress = clientAddressOption<express.Request>(options, (req, name) => req.get(name));
  app.get(
    "/api",
    expressKeyward({ client, clientAddress, onError: options.onError }),
    (req, res) => {
      res.json({ tokenId: req.keyward?.tokenId });
    },
  );
  for (const scope of SCOPES) {
    app.get(`/api/scopes/${scope}`, expressKeyward({ client, scopes: [scope] }), (_req, res) => {
      res.json({ scope });
    });
  }
  const server = await new Promise<ReturnType<typeof app.listen>>((resolve) => {
    const s = app.listen(0, "127.0.0.1", () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    name: "express",
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export async function startHonoApp(
  client: KeywardClient,
  options: AppOptions = {},
): Promise<RunningApp> {
  const app = new Hono<{ Variables: KeywardVariables }>();
  app.use(
    "/api",
    honoKeyward({
      client,
      onError: options.onError,
      clientAddress: clientAddressOption<Context>(options, (c, name) => c.req.header(name)),
    }),
  );
  for (const scope of SCOPES)
    app.use(`/api/scopes/${scope}`, honoKeyward({ client, scopes: [scope] }));
  app.get("/api", (c) => c.json({ tokenId: c.get("keyward").tokenId }));
  app.get("/api/scopes/:scope", (c) => c.json({ scope: c.req.param("scope") }));
  const { server, port } = await new Promise<{ server: ReturnType<typeof serve>; port: number }>(
    (resolve) => {
      const s = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info) =>
        resolve({ server: s, port: info.port }),
      );
    },
  );
  return {
    name: "hono",
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      }),
  };
}

export const APP_STARTERS = [startFastifyApp, startExpressApp, startHonoApp] as const;
