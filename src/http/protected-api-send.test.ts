import { describe, expect, it } from "vitest";
import {
  bearer,
  Client,
  createToken,
  signUpWithApp,
  startTestServer,
} from "../test-support/harness.js";

describe("the protected API under an asynchronous onSend hook", () => {
  it("sends each answer once, whether its token was read from storage or from memory", async () => {
    // A hook that finishes later (as compression would): a handler whose promise settled
    // before the sending ended would be sent a second time.
    const server = await startTestServer({}, {}, undefined, (keyward) => {
      keyward.app.addHook("onSend", async (_request, _reply, payload) => {
        await new Promise((resolve) => setImmediate(resolve));
        return payload;
      });
    });
    try {
      const { client, appId } = await signUpWithApp(server.baseUrl);
      const first = await createToken(client, appId, { name: "first" });
      const second = await createToken(client, appId, { name: "second" });
      const api = new Client(server.baseUrl);
      const answers: Array<[number, unknown]> = [];
      for (const [path, token] of [
        ["/api", first.token], // read from storage
        ["/api", first.token], // cached
        ["/api/scopes/read", second.token], // read from storage: no such scope
        ["/api/scopes/read", second.token], // cached
      ] as const) {
        const res = await api.request("GET", path, { headers: bearer(token) });
        answers.push([res.status, res.body]);
      }
      expect(answers.map(([status]) => status)).toEqual([200, 200, 403, 403]);
      expect(answers[0]?.[1]).toMatchObject({ token: { id: first.id } });
      expect(answers[1]?.[1]).toEqual(answers[0]?.[1]);
      const logs = server.logs();
      expect(logs).not.toMatch(/already sent|ERR_HTTP_HEADERS_SENT|"level":5\d/);
    } finally {
      await server.close();
    }
  });
});
