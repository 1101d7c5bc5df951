import { afterAll, beforeAll } from "vitest";
import type { Overrides } from "../compose.js";
import { startTestServer, type TestServer } from "./harness.js";

/**
 * One test server for the whole file (or the enclosing `describe`): started in `beforeAll`,
 * closed in `afterAll`. The returned server stands for the one started, so tests read
 * `server.baseUrl` as usual; touching it outside a test or hook is a mistake it reports.
 * The store follows KEYWARD_TEST_STORE like every `startTestServer`.
 */
export function setUpTestServer(
  env: Record<string, string> = {},
  overrides: Overrides = {},
): TestServer {
  let started: TestServer | undefined;
  beforeAll(async () => {
    started = await startTestServer(env, overrides);
  });
  afterAll(async () => {
    await started?.close();
  });
  const current = (): TestServer => {
    if (started === undefined) throw new Error("the test server starts in beforeAll");
    return started;
  };
  return {
    get keyward() {
      return current().keyward;
    },
    get config() {
      return current().config;
    },
    get baseUrl() {
      return current().baseUrl;
    },
    get dataDir() {
      return current().dataDir;
    },
    logs: () => current().logs(),
    close: (options) => current().close(options),
  };
}
