import { connect } from "node:net";

export interface RawAnswer {
  status: number;
  /** Header names in lower case; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: string;
}

function decodeChunked(body: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = body.indexOf("\r\n", at);
    if (lineEnd === -1) break;
    const size = Number.parseInt(body.subarray(at, lineEnd).toString("latin1"), 16);
    if (!size) break;
    parts.push(body.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

/**
 * Sends one request as raw bytes (so duplicate, latin1 or oddly spaced headers reach the
 * server as written) on a fresh connection and reads the answer until the server closes.
 */
export function rawRequest(baseUrl: string, request: Buffer, timeoutMs = 5000): Promise<RawAnswer> {
  const { port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    // Keyward answers only for its own host and port (421 otherwise): the Host line names
    // the port this request goes to. latin1 carries every byte through unchanged.
    const bytes = Buffer.from(
      request
        .toString("latin1")
        .replace(/^Host: 127\.0\.0\.1\r\n/m, `Host: 127.0.0.1:${port}\r\n`),
      "latin1",
    );
    const socket = connect(Number(port), "127.0.0.1", () => socket.write(bytes));
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error("no answer in time"));
    }, timeoutMs);
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on("end", () => {
      clearTimeout(timer);
      const all = Buffer.concat(chunks);
      const split = all.indexOf("\r\n\r\n");
      const head = all.subarray(0, split).toString("latin1").split("\r\n");
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head[0] ?? "")?.[1] ?? 0);
      const headers: Record<string, string> = {};
      for (const line of head.slice(1)) {
        const colon = line.indexOf(":");
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
      }
      let body: Buffer = all.subarray(split + 4);
      if (headers["transfer-encoding"] === "chunked") body = decodeChunked(body);
      resolve({ status, headers, body: body.toString("utf8") });
    });
  });
}

/** A GET request with these Authorization header values (each a line; none: no header). */
export function getRequest(path: string, authorization: readonly (string | Buffer)[]): Buffer {
  const lines = authorization.map((value) =>
    Buffer.concat([
      Buffer.from("Authorization: ", "latin1"),
      typeof value === "string" ? Buffer.from(value, "latin1") : value,
      Buffer.from("\r\n", "latin1"),
    ]),
  );
  return Buffer.concat([
    Buffer.from(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n`, "latin1"),
    ...lines,
    Buffer.from("Connection: close\r\n\r\n", "latin1"),
  ]);
}
