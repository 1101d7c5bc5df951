import { describe, expect, it } from "vitest";
import type { IssuedToken, ServiceVerification } from "../contract/index.js";
import { createServiceKey, serviceClient, signUpWithApp } from "../test-support/harness.js";
import { setUpTestServer } from "../test-support/server-fixture.js";

// A limit low enough to reach in a test: the public verify route is limited per address.
const server = setUpTestServer({ VERIFY_RATE_LIMIT_PER_MINUTE: "3" });

describe("service verification", () => {
  it("is not limited per address (a host's API servers share few addresses), where public verification is", async () => {
    const owner = await signUpWithApp(server.baseUrl, "Busy host");
    const key = await createServiceKey(owner.client, owner.appId, "backend");
    const service = serviceClient(server.baseUrl, key.key);
    await service("PUT", "/api/v1/service/users/busy-1", {});
    const issued = await service<IssuedToken>("POST", "/api/v1/service/users/busy-1/tokens", {
      name: "load",
    });
    const verifyPublicly = () =>
      fetch(`${server.baseUrl}/api/v1/verify`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ token: issued.body.token }),
      });
    const publicStatuses: number[] = [];
    for (let i = 0; i < 4; i++) publicStatuses.push((await verifyPublicly()).status);
    expect(publicStatuses).toEqual([200, 200, 200, 429]);
    const answers: Array<{ status: number; body: ServiceVerification }> = [];
    for (let i = 0; i < 12; i++)
      answers.push(
        await service<ServiceVerification>("POST", "/api/v1/service/verify", {
          token: issued.body.token,
        }),
      );
    expect(answers.map((answer) => [answer.status, answer.body.valid])).toEqual(
      answers.map(() => [200, true]),
    );
  });
});
