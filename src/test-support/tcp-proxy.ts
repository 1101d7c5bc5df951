import { connect, createServer, type Server, type Socket } from "node:net";

/**
 * A TCP proxy in front of PostgreSQL that a test can break: `cut` resets every connection
 * and refuses new ones (the server is down); `blackhole` keeps connections open but
 * carries nothing (a network partition); `hangUp` closes each new connection as soon as
 * it is accepted, without a word (a load balancer with no server behind it);
 * `holdRequests` holds what clients send while the server's messages still reach them (a
 * query stuck on its way, notifications still arriving); `restore` heals any of them.
 */
export class TcpProxy {
  private mode: "open" | "cut" | "blackhole" | "hangUp" | "holdRequests" = "open";
  private readonly pairs = new Set<[Socket, Socket]>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    let proxy: TcpProxy | undefined;
    const server = createServer((client) => proxy?.accept(client, target));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error("no TCP address");
    proxy = new TcpProxy(server, address.port);
    return proxy;
  }

  /** A proxy to the host and port of a PostgreSQL URL; `urlFor(url)` then goes through it. */
  static inFrontOf(url: string): Promise<TcpProxy> {
    const target = new URL(url);
    return TcpProxy.start({ host: target.hostname, port: Number(target.port || 5432) });
  }

  /** `url` with its host and port replaced by the proxy's. */
  urlFor(url: string): string {
    const u = new URL(url);
    u.hostname = "127.0.0.1";
    u.port = String(this.port);
    return u.toString();
  }

  /** Connections open through the proxy now. */
  get connections(): number {
    return this.pairs.size;
  }

  cut(): void {
    this.mode = "cut";
    for (const [a, b] of this.pairs) {
      a.resetAndDestroy();
      b.destroy();
    }
    this.pairs.clear();
  }

  blackhole(): void {
    this.mode = "blackhole";
    for (const pair of this.pairs) for (const s of pair) s.pause();
  }

  hangUp(): void {
    this.mode = "hangUp";
  }

  /**
   * While held, a client's own end does not reach the server either, so a client closing
   * then waits out its goodbye: `restore` first.
   */
  holdRequests(): void {
    this.mode = "holdRequests";
    for (const [client, upstream] of this.pairs) {
      client.pause();
      upstream.resume();
    }
  }

  restore(): void {
    this.mode = "open";
    for (const pair of this.pairs) for (const s of pair) s.resume();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private accept(client: Socket, target: { host: string; port: number }): void {
    client.on("error", () => {});
    if (this.mode === "cut") {
      client.resetAndDestroy();
      return;
    }
    if (this.mode === "hangUp") {
      // Read and dropped, so that the client's own close is seen and the socket freed.
      client.resume();
      client.end();
      return;
    }
    const upstream = connect(target.port, target.host);
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
    const pair: [Socket, Socket] = [client, upstream];
    this.pairs.add(pair);
    const forget = () => this.pairs.delete(pair);
    client.on("close", forget);
    upstream.on("close", () => {
      forget();
      client.destroy();
    });
    client.pipe(upstream);
    upstream.pipe(client);
    if (this.mode === "blackhole") {
      client.pause();
      upstream.pause();
    }
    if (this.mode === "holdRequests") client.pause();
  }
}
