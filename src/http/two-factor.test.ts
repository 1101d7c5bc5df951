import { Secret, TOTP } from "otpauth";
import { describe, expect, it } from "vitest";
import type { PortalSession, TwoFactorEnrollment, TwoFactorStatus } from "../contract/index.js";
import { ManualClock } from "../test-support/clock.js";
import {
  Client,
  createServiceKey,
  serviceClient,
  signUpUser,
  signUpWithApp,
} from "../test-support/harness.js";
import { setUpTestServer } from "../test-support/server-fixture.js";

const clock = new ManualClock();
const server = setUpTestServer({}, { clock });

const password = "correct horse battery staple";
const STEP_MS = 30_000;

type Problem = { code: string; status: number; detail: string };

/** The code an authenticator app with this secret shows at `at` (the test's clock by default). */
function codeFor(secret: string, at = clock.now()): string {
  return new TOTP({ secret: Secret.fromBase32(secret) }).generate({ timestamp: at });
}

/** A 6-digit code that is none of the codes the drift window accepts now. */
function wrongCodeFor(secret: string): string {
  const near = [-1, 0, 1].map((step) => codeFor(secret, clock.now() + step * STEP_MS));
  return ["000000", "111111", "222222", "333333"].find((c) => !near.includes(c)) ?? "444444";
}

function signIn(email: string, extra: { code?: string; password?: string } = {}) {
  const client = new Client(server.baseUrl);
  const body = { email, password: extra.password ?? password, ...extra };
  return client.post<Problem & { user: { email: string } }>("/api/v1/auth/signin", body);
}

/** A new account with two-factor on: its client, email, secret and recovery codes. */
async function enrolledUser() {
  const { client, user } = await signUpUser(server.baseUrl);
  const started = await client.post<TwoFactorEnrollment>("/api/v1/me/two-factor");
  expect(started.status).toBe(201);
  const { secret } = started.body;
  const confirmed = await client.post<{ recoveryCodes: string[] }>(
    "/api/v1/me/two-factor/confirm",
    { code: codeFor(secret) },
  );
  expect(confirmed.status).toBe(200);
  // The confirming code's step is spent: the next sign-in uses the app's next code.
  clock.advance(STEP_MS);
  return { client, email: user.email, secret, recoveryCodes: confirmed.body.recoveryCodes };
}

describe("enrolling", () => {
  it("needs a recent sign-in to start and to confirm: a session left open cannot turn it on for someone else's app", async () => {
    const { client } = await signUpUser(server.baseUrl);
    clock.advance(16 * 60_000);
    const held = await client.post<Problem>("/api/v1/me/two-factor");
    expect([held.status, held.body.code]).toEqual([403, "reauthentication_required"]);
    expect((await client.post("/api/v1/auth/reauthenticate", { password })).status).toBe(204);
    const started = await client.post<TwoFactorEnrollment>("/api/v1/me/two-factor");
    expect(started.status).toBe(201);
    clock.advance(16 * 60_000);
    const confirm = await client.post<Problem>("/api/v1/me/two-factor/confirm", {
      code: codeFor(started.body.secret),
    });
    expect([confirm.status, confirm.body.code]).toEqual([403, "reauthentication_required"]);
    const status = await client.get<TwoFactorStatus>("/api/v1/me/two-factor");
    expect(status.body.enabled).toBe(false);
  });

  it("starts with a secret and an otpauth URL, is off until confirmed, and a wrong code changes nothing", async () => {
    const { client, user } = await signUpUser(server.baseUrl);
    const started = await client.post<TwoFactorEnrollment>("/api/v1/me/two-factor");
    expect(started.status).toBe(201);
    expect(started.headers.get("cache-control")).toBe("no-store");
    expect(started.body.secret).toMatch(/^[A-Z2-7]{32}$/);
    const url = new URL(started.body.otpauthUrl);
    expect(url.protocol).toBe("otpauth:");
    expect(url.searchParams.get("secret")).toBe(started.body.secret);
    expect(url.searchParams.get("issuer")).toBe("Keyward");
    expect(decodeURIComponent(url.pathname)).toContain(user.email);

    const wrong = await client.post<Problem>("/api/v1/me/two-factor/confirm", { code: "000000" });
    expect(wrong.status).toBe(401);
    expect(wrong.body.code).toBe("invalid_two_factor_code");
    const status = await client.get<TwoFactorStatus>("/api/v1/me/two-factor");
    expect(status.body).toEqual({ enabled: false, recoveryCodesLeft: 0 });
    // Still off: email and password alone sign in.
    expect((await signIn(user.email)).status).toBe(200);

    // A new start replaces the pending secret: a code of the first one no longer confirms.
    const again = await client.post<TwoFactorEnrollment>("/api/v1/me/two-factor");
    expect(again.body.secret).not.toBe(started.body.secret);
    const stale = await client.post<Problem>("/api/v1/me/two-factor/confirm", {
      code: codeFor(started.body.secret),
    });
    expect(stale.body.code).toBe("invalid_two_factor_code");
    const confirmed = await client.post<{ recoveryCodes: string[] }>(
      "/api/v1/me/two-factor/confirm",
      { code: codeFor(again.body.secret) },
    );
    expect(confirmed.status).toBe(200);
    expect(confirmed.body.recoveryCodes).toHaveLength(10);
    expect(new Set(confirmed.body.recoveryCodes).size).toBe(10);
    for (const code of confirmed.body.recoveryCodes)
      expect(code).toMatch(/^([0-9a-z]{4}-){3}[0-9a-z]{4}$/);
    expect((await client.get<TwoFactorStatus>("/api/v1/me/two-factor")).body).toEqual({
      enabled: true,
      recoveryCodesLeft: 10,
    });
    // On now: no new enrollment, and the recovery codes are never shown again.
    const refused = await client.post<Problem>("/api/v1/me/two-factor");
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe("two_factor_already_enabled");
    const twice = await client.post<Problem>("/api/v1/me/two-factor/confirm", {
      code: codeFor(again.body.secret, clock.now() + STEP_MS),
    });
    expect(twice.status).toBe(409);
  });
});

describe("signing in with two-factor on", () => {
  it("asks for the code after the right password only, and accepts each TOTP code once", async () => {
    const { email, secret } = await enrolledUser();
    const wrongPassword = await signIn(email, { password: "not the password at all" });
    expect(wrongPassword.status).toBe(401);
    expect(wrongPassword.body.code).toBe("invalid_credentials");
    // Not even with a right code does a wrong password get further.
    const wrongWithCode = await signIn(email, {
      password: "not the password at all",
      code: codeFor(secret),
    });
    expect(wrongWithCode.body.code).toBe("invalid_credentials");

    const withoutCode = await signIn(email);
    expect(withoutCode.status).toBe(401);
    expect(withoutCode.headers.get("content-type")).toContain("application/problem+json");
    expect(withoutCode.body.code).toBe("two_factor_required");
    expect(withoutCode.headers.getSetCookie()).toEqual([]);

    const wrongCode = await signIn(email, { code: wrongCodeFor(secret) });
    expect(wrongCode.status).toBe(401);
    expect(wrongCode.body.code).toBe("invalid_two_factor_code");

    const code = codeFor(secret);
    const signedIn = await signIn(email, { code: `${code.slice(0, 3)} ${code.slice(3)}` });
    expect(signedIn.status).toBe(200);
    expect(signedIn.body.user.email).toBe(email);
    // The same code again, still within its 30 seconds: refused (a replayed code).
    const replay = await signIn(email, { code });
    expect(replay.status).toBe(401);
    expect(replay.body.code).toBe("invalid_two_factor_code");
    // Nor does the previous step's code (still within the drift window) work after it.
    expect((await signIn(email, { code: codeFor(secret, clock.now() - STEP_MS) })).status).toBe(
      401,
    );
    clock.advance(STEP_MS);
    expect((await signIn(email, { code: codeFor(secret) })).status).toBe(200);
  });

  it("accepts a code one step off (clock drift), not two", async () => {
    const { email, secret } = await enrolledUser();
    // A second into a step: the step cannot change between computing a code and its check
    // (ManualClock follows the wall clock), so "one step back" stays exactly one.
    clock.advance(5 * STEP_MS + STEP_MS - (clock.now() % STEP_MS) + 1000);
    expect((await signIn(email, { code: codeFor(secret, clock.now() - 2 * STEP_MS) })).status).toBe(
      401,
    );
    expect((await signIn(email, { code: codeFor(secret, clock.now() - STEP_MS) })).status).toBe(
      200,
    );
    clock.advance(2 * STEP_MS);
    expect((await signIn(email, { code: codeFor(secret, clock.now() + STEP_MS) })).status).toBe(
      200,
    );
  });

  it("accepts each recovery code once, in any case and grouping, and records its use", async () => {
    const { client, email, recoveryCodes } = await enrolledUser();
    const [first, second] = recoveryCodes as [string, string];
    expect((await signIn(email, { code: first })).status).toBe(200);
    const reused = await signIn(email, { code: first });
    expect(reused.status).toBe(401);
    expect(reused.body.code).toBe("invalid_two_factor_code");
    expect((await signIn(email, { code: second.replaceAll("-", "").toUpperCase() })).status).toBe(
      200,
    );
    expect(
      (await client.get<TwoFactorStatus>("/api/v1/me/two-factor")).body.recoveryCodesLeft,
    ).toBe(8);
    const audit = await client.get<{ events: Array<{ action: string; reason: string | null }> }>(
      "/api/v1/me/audit",
    );
    const actions = audit.body.events.map((e) => e.action);
    expect(actions.filter((a) => a === "two_factor.recovery_code_used")).toHaveLength(2);
    expect(actions).toContain("two_factor.enabled");
    expect(audit.body.events.some((e) => e.reason === "wrong_two_factor_code")).toBe(true);
  });

  it("counts wrong codes as failed sign-ins: the per-account limit stops a guesser", async () => {
    const { email, secret } = await enrolledUser();
    let limited: Awaited<ReturnType<typeof signIn>> | undefined;
    for (let attempt = 0; attempt < 30 && limited === undefined; attempt++) {
      const res = await signIn(email, { code: wrongCodeFor(secret) });
      if (res.status === 429) limited = res;
      else expect(res.body.code).toBe("invalid_two_factor_code");
    }
    expect(limited?.body.code).toBe("rate_limited");
  });
});

describe("turning two-factor off", () => {
  it("needs a recent sign-in and a right code; then email and password alone sign in again", async () => {
    const { client, email, secret, recoveryCodes } = await enrolledUser();
    clock.advance(16 * 60_000);
    const stale = await client.request("DELETE", "/api/v1/me/two-factor", {
      body: { code: codeFor(secret) },
    });
    expect(stale.status).toBe(403);
    expect((stale.body as Problem).code).toBe("reauthentication_required");
    expect((await client.post("/api/v1/auth/reauthenticate", { password })).status).toBe(204);
    const wrong = await client.request("DELETE", "/api/v1/me/two-factor", {
      body: { code: wrongCodeFor(secret) },
    });
    expect(wrong.status).toBe(401);
    expect((wrong.body as Problem).code).toBe("invalid_two_factor_code");
    expect((await signIn(email)).body.code).toBe("two_factor_required");
    // A recovery code does it too.
    const off = await client.request("DELETE", "/api/v1/me/two-factor", {
      body: { code: recoveryCodes[0] },
    });
    expect(off.status).toBe(204);
    expect((await client.get<TwoFactorStatus>("/api/v1/me/two-factor")).body.enabled).toBe(false);
    expect((await signIn(email)).status).toBe(200);
    const again = await client.request("DELETE", "/api/v1/me/two-factor", {
      body: { code: codeFor(secret) },
    });
    expect(again.status).toBe(404);
    const audit = await client.get<{ events: Array<{ action: string }> }>("/api/v1/me/audit");
    expect(audit.body.events.map((e) => e.action)).toContain("two_factor.disabled");
  });
});

describe("security", () => {
  it("host users' portal sessions cannot reach the two-factor routes", async () => {
    const owner = await signUpWithApp(server.baseUrl, "Host");
    const key = await createServiceKey(owner.client, owner.appId, "host-backend");
    const service = serviceClient(server.baseUrl, key.key);
    await service("PUT", "/api/v1/service/users/h-2fa", { email: "h2fa@example.com" });
    const link = await service<PortalSession>("POST", "/api/v1/service/portal-sessions", {
      externalId: "h-2fa",
    });
    const opened = await fetch(link.body.url, { redirect: "manual" });
    await opened.text();
    const portal = new Client(server.baseUrl);
    portal.cookie = (opened.headers.getSetCookie()[0] ?? "").split(";")[0] ?? "";
    expect((await portal.get("/api/v1/me")).status).toBe(200);
    for (const [method, path] of [
      ["GET", "/api/v1/me/two-factor"],
      ["POST", "/api/v1/me/two-factor"],
      ["POST", "/api/v1/me/two-factor/confirm"],
      ["DELETE", "/api/v1/me/two-factor"],
    ] as const) {
      const res = await portal.request(method, path, {
        body: path.endsWith("confirm") || method === "DELETE" ? { code: "123456" } : undefined,
      });
      expect(res.status, `${method} ${path}`).toBe(403);
      expect((res.body as Problem).code).toBe("forbidden");
    }
  });

  it("never writes the secret, a code or a recovery code to the log or the audit trail", async () => {
    const { client, email, secret, recoveryCodes } = await enrolledUser();
    expect((await signIn(email, { code: codeFor(secret) })).status).toBe(200);
    expect((await signIn(email, { code: recoveryCodes[1] })).status).toBe(200);
    const audit = await client.get("/api/v1/me/audit");
    const logs = server.logs();
    for (const text of [logs, audit.text]) {
      expect(text).not.toContain(secret);
      for (const recovery of recoveryCodes) {
        expect(text).not.toContain(recovery);
        expect(text).not.toContain(recovery.replaceAll("-", ""));
      }
    }
  });

  it("requires a session and a same-origin Origin", async () => {
    expect((await new Client(server.baseUrl).post("/api/v1/me/two-factor")).status).toBe(401);
    const { client } = await signUpUser(server.baseUrl);
    const foreign = await client.request("POST", "/api/v1/me/two-factor", {
      origin: "https://evil.example",
    });
    expect(foreign.status).toBe(403);
    expect((foreign.body as Problem).code).toBe("csrf_rejected");
  });
});
