// `npm run example`: Keyward and the example host side by side. Keyward runs on its
// embedded SQLite store in examples/host-app/.data; the host is set up on first start
// (owner account, application, service key, kept in .data/host.json).
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { KeywardClient } from "keyward-client";
import { bootstrapHost, type HostSetUp } from "./bootstrap.js";
import { buildHostApp } from "./host.js";

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, "..", "..");
const dataDir = join(here, ".data");
const keywardPort = Number(process.env.KEYWARD_PORT ?? 3000);
const hostPort = Number(process.env.HOST_APP_PORT ?? 4000);
const keywardUrl = `http://localhost:${keywardPort}`;
const hostOrigin = `http://localhost:${hostPort}`;

async function waitForReady(url: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`${url}/readyz`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`Keyward did not become ready at ${url}`);
}

mkdirSync(dataDir, { recursive: true });
const keyward = spawn(process.execPath, [join(repoRoot, "dist", "cli", "main.js"), "start"], {
  env: {
    ...process.env,
    PORT: String(keywardPort),
    HOST: "127.0.0.1",
    DATABASE_URL: `sqlite:${join(dataDir, "keyward.db")}`,
  },
  stdio: ["ignore", "ignore", "inherit"],
});
process.on("exit", () => keyward.kill());
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => process.exit(0));

await waitForReady(keywardUrl);
const setUpFile = join(dataDir, "host.json");
let setUp: HostSetUp;
if (existsSync(setUpFile)) {
  setUp = JSON.parse(readFileSync(setUpFile, "utf8")) as HostSetUp;
} else {
  setUp = await bootstrapHost(keywardUrl, hostOrigin);
  writeFileSync(setUpFile, JSON.stringify(setUp, null, 2), { mode: 0o600 });
}

const client = new KeywardClient({ url: keywardUrl, serviceKey: setUp.serviceKey });
const host = await buildHostApp({ client, cookieSecret: randomBytes(32).toString("hex") });
await host.listen({ host: "127.0.0.1", port: hostPort });

console.log(`Keyward:      ${keywardUrl}  (owner ${setUp.owner.email} / ${setUp.owner.password})`);
console.log(`Example host: ${hostOrigin}  (sign in with any username, then open "API tokens")`);
