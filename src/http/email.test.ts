import { createHash } from "node:crypto";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../test-support/clock.js";
import {
  Client,
  createApp,
  createToken,
  signUpUser,
  signUpWithApp,
  startTestServer,
  type TestServer,
} from "../test-support/harness.js";
import { pollUntil } from "../test-support/poll.js";
import { REPO_ROOT, runNode } from "../test-support/process.js";
import { linkCodeOf, type ReceivedMail, SmtpInbox } from "../test-support/smtp-inbox.js";

// Email against a real SMTP server started here (npm smtp-server): Keyward sends through
// nodemailer exactly as it would to a mail provider, and the tests read what arrived.

const password = "correct horse battery staple";
const MINUTE = 60_000;
const DAY = 86_400_000;

const inbox = new SmtpInbox();
const clock = new ManualClock();
let server: TestServer;

const mailEnv = () => ({ SMTP_URL: inbox.url, MAIL_FROM: "Keyward <keys@example.com>" });

beforeAll(async () => {
  await inbox.start();
  server = await startTestServer(mailEnv(), { clock });
});

afterAll(async () => {
  await server?.close();
  await inbox.stop();
});

async function confirmationOf(email: string): Promise<ReceivedMail> {
  const [mail] = await inbox.waitFor(email, /Confirm your email/);
  if (!mail) throw new Error("no confirmation");
  return mail;
}

/** Signs up and confirms the address, as a new account would. */
async function signUpConfirmed(): Promise<Awaited<ReturnType<typeof signUpWithApp>>> {
  const signedUp = await signUpWithApp(server.baseUrl);
  const code = linkCodeOf(await confirmationOf(signedUp.user.email));
  expect((await signedUp.client.post("/api/v1/auth/confirm-email", { code })).status).toBe(204);
  return signedUp;
}

async function resetLinkFor(email: string, count = 1): Promise<string> {
  const mails = await inbox.waitFor(email, /Reset your password/, count);
  return linkCodeOf(mails[count - 1] as ReceivedMail);
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

function expectNoSecret(mail: ReceivedMail, secret: string) {
  for (const forbidden of [secret, sha256(secret), secret.slice(3)]) {
    expect(mail.raw).not.toContain(forbidden);
    expect(mail.text).not.toContain(forbidden);
    expect(mail.html).not.toContain(forbidden);
  }
}

describe("address confirmation", () => {
  it("sign-up emails a confirmation link from MAIL_FROM; it confirms once, from any browser", async () => {
    const { client, user } = await signUpUser(server.baseUrl);
    const mail = await confirmationOf(user.email);
    expect(mail.from).toBe("keys@example.com");
    expect(mail.text).toContain(`${server.baseUrl}/confirm-email#code=`);
    expect(mail.html).toContain(`${server.baseUrl}/confirm-email#code=`);
    expect(
      (await client.get<{ emailConfirmationPending?: boolean }>("/api/v1/me")).body,
    ).toMatchObject({ emailConfirmationPending: true });

    const code = linkCodeOf(mail);
    const anonymous = new Client(server.baseUrl);
    expect((await anonymous.post("/api/v1/auth/confirm-email", { code })).status).toBe(204);
    const again = await anonymous.post<{ code: string }>("/api/v1/auth/confirm-email", { code });
    expect(again.status).toBe(410);
    expect(again.body.code).toBe("link_expired");
    const me = await client.get<{ emailConfirmationPending?: boolean }>("/api/v1/me");
    expect(me.body.emailConfirmationPending).toBeUndefined();
    expect(
      (await anonymous.post<{ code: string }>("/api/v1/auth/confirm-email", { code: "nope" })).body
        .code,
    ).toBe("link_expired");
  });

  it("an unconfirmed account can be invited but cannot accept until it confirms; a resent link works", async () => {
    const owner = await signUpConfirmed();
    const { client, user } = await signUpUser(server.baseUrl);
    const invited = await owner.client.post<{ invitation: { id: string } }>(
      `/api/v1/applications/${owner.appId}/members`,
      { email: user.email, role: "member" },
    );
    expect(invited.status).toBe(201);
    const accept = `/api/v1/me/invitations/${invited.body.invitation.id}/accept`;
    const refused = await client.post<{ code: string }>(accept);
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe("email_not_confirmed");
    // Whoever holds an unconfirmed account may not be the address's owner: they neither
    // see what was sent to it nor can they throw it away.
    const mine = await client.get<{ invitations: unknown[] }>("/api/v1/me/invitations");
    expect(mine.body.invitations).toEqual([]);
    const declined = await client.post<{ code: string }>(
      `/api/v1/me/invitations/${invited.body.invitation.id}/decline`,
    );
    expect([declined.status, declined.body.code]).toEqual([403, "email_not_confirmed"]);

    await confirmationOf(user.email);
    expect((await client.post("/api/v1/me/email-confirmation")).status).toBe(202);
    const [, resent] = await inbox.waitFor(user.email, /Confirm your email/, 2);
    expect(
      (
        await client.post("/api/v1/auth/confirm-email", {
          code: linkCodeOf(resent as ReceivedMail),
        })
      ).status,
    ).toBe(204);
    expect(
      (await client.get<{ invitations: unknown[] }>("/api/v1/me/invitations")).body.invitations,
    ).toHaveLength(1);
    expect((await client.post(accept)).status).toBe(201);
  });
});

describe("the confirmation email's limit", () => {
  it("counts the sign-up's email with the resends: 5 emails an hour to one address in all", async () => {
    const client = new Client(server.baseUrl);
    const email = `Limited-${Date.now()}@Example.com`;
    expect((await client.post("/api/v1/auth/signup", { email, password, name: "L" })).status).toBe(
      201,
    );
    const statuses = [];
    for (let i = 0; i < 5; i++) {
      statuses.push((await client.post("/api/v1/me/email-confirmation")).status);
    }
    expect(statuses).toEqual([202, 202, 202, 202, 429]);
  });
});

describe("password reset", () => {
  it("answers 202 for an unknown email and sends nothing; a known one gets a link", async () => {
    const { user } = await signUpConfirmed();
    const anonymous = new Client(server.baseUrl);
    const unknown = `nobody-${Date.now()}@example.com`;
    const a = await anonymous.post("/api/v1/auth/password-reset", { email: unknown });
    const b = await anonymous.post("/api/v1/auth/password-reset", {
      email: user.email.toUpperCase(),
    });
    expect([a.status, b.status]).toEqual([202, 202]);
    expect(a.text).toBe(b.text);
    const code = await resetLinkFor(user.email);
    await server.keyward.mail?.drainNow();
    expect(inbox.to(unknown)).toEqual([]);
    expect(server.logs()).not.toContain(code);
  });

  it("sends at most 5 links an hour to one address; past that the answer stays 202 and nothing is sent", async () => {
    // The sign-up's confirmation email was the first of the 5.
    const { user } = await signUpConfirmed();
    // Asked by someone signed in to another account, then by anyone: counted for the
    // address asked about either way.
    const { client: someoneElse } = await signUpConfirmed();
    const anonymous = new Client(server.baseUrl);
    for (let i = 0; i < 7; i++) {
      const asker = i < 5 ? someoneElse : anonymous;
      expect((await asker.post("/api/v1/auth/password-reset", { email: user.email })).status).toBe(
        202,
      );
    }
    await inbox.waitFor(user.email, /Reset your password/, 4);
    await server.keyward.mail?.drainNow();
    expect(inbox.to(user.email).filter((m) => /Reset/.test(m.subject))).toHaveLength(4);
    expect(inbox.to(user.email)).toHaveLength(5);
  });

  it("the link sets a new password once, ends every session, and the old password stops working", async () => {
    const { client, user } = await signUpConfirmed();
    const other = new Client(server.baseUrl);
    expect((await other.post("/api/v1/auth/signin", { email: user.email, password })).status).toBe(
      200,
    );
    const anonymous = new Client(server.baseUrl);
    await anonymous.post("/api/v1/auth/password-reset", { email: user.email });
    const code = await resetLinkFor(user.email);

    const weak = await anonymous.post<{ code: string }>("/api/v1/auth/password-reset/confirm", {
      code,
      newPassword: "password",
    });
    expect(weak.body.code).toBe("weak_password");
    const reset = await anonymous.post("/api/v1/auth/password-reset/confirm", {
      code,
      newPassword: "a brand new passphrase",
    });
    expect(reset.status).toBe(204);
    expect((await client.get("/api/v1/me")).status).toBe(401);
    expect((await other.get("/api/v1/me")).status).toBe(401);
    const reused = await anonymous.post<{ code: string }>("/api/v1/auth/password-reset/confirm", {
      code,
      newPassword: "yet another passphrase",
    });
    expect(reused.status).toBe(410);
    expect(reused.body.code).toBe("link_expired");
    const signIn = (pass: string) =>
      new Client(server.baseUrl).post("/api/v1/auth/signin", { email: user.email, password: pass });
    expect((await signIn(password)).status).toBe(401);
    expect((await signIn("a brand new passphrase")).status).toBe(200);
  });

  it("a link asked for before the password was changed another way no longer works", async () => {
    const { client, user } = await signUpConfirmed();
    const anonymous = new Client(server.baseUrl);
    await anonymous.post("/api/v1/auth/password-reset", { email: user.email });
    const code = await resetLinkFor(user.email);
    expect(
      (
        await client.post("/api/v1/auth/password", {
          currentPassword: password,
          newPassword: "changed in the app meanwhile",
        })
      ).status,
    ).toBe(204);
    const late = await anonymous.post<{ code: string }>("/api/v1/auth/password-reset/confirm", {
      code,
      newPassword: "an attacker's passphrase",
    });
    expect([late.status, late.body.code]).toEqual([410, "link_expired"]);
  });

  it("the link expires after 30 minutes", async () => {
    const { user } = await signUpConfirmed();
    const anonymous = new Client(server.baseUrl);
    await anonymous.post("/api/v1/auth/password-reset", { email: user.email });
    const code = await resetLinkFor(user.email);
    clock.advance(30 * MINUTE + 1000);
    const late = await anonymous.post<{ code: string }>("/api/v1/auth/password-reset/confirm", {
      code,
      newPassword: "a brand new passphrase",
    });
    expect(late.status).toBe(410);
    expect(late.body.code).toBe("link_expired");
    expect(
      (await anonymous.post("/api/v1/auth/signin", { email: user.email, password })).status,
    ).toBe(200);
  });
});

describe("token notices", () => {
  it("created, regenerated and leaked: each emailed once to the owner, with the name and never the secret or its hash", async () => {
    const { client, user, appId } = await signUpConfirmed();
    const { token, id } = await createToken(client, appId, { name: "deploy bot" });
    const [created] = await inbox.waitFor(user.email, /created/);
    expect(created?.text).toContain('"deploy bot"');
    expectNoSecret(created as ReceivedMail, token);

    const regenerated = await client.post<{ token: string }>(
      `/api/v1/applications/${appId}/tokens/${id}/regenerate`,
      {},
    );
    expect(regenerated.status).toBe(201);
    const [notice] = await inbox.waitFor(user.email, /regenerated/);
    expect(notice?.text).toContain('"deploy bot"');
    expectNoSecret(notice as ReceivedMail, token);
    expectNoSecret(notice as ReceivedMail, regenerated.body.token);

    const leak = await new Client(server.baseUrl).post("/api/v1/leaks", {
      tokens: [regenerated.body.token],
    });
    expect(leak.status).toBe(202);
    const [leaked] = await inbox.waitFor(user.email, /leaked/);
    expect(leaked?.text).toContain("revoked");
    expectNoSecret(leaked as ReceivedMail, regenerated.body.token);
    await server.keyward.mail?.drainNow();
    expect(inbox.to(user.email).filter((m) => /token/i.test(m.subject))).toHaveLength(3);
    expect(server.logs()).not.toContain(regenerated.body.token);
  });

  it("a token expiring within 7 days gets one reminder, however often the sweep runs", async () => {
    const { client, user, appId } = await signUpConfirmed();
    await createToken(client, appId, {
      name: "short lived",
      expiresAt: new Date(clock.now() + 3 * DAY).toISOString(),
    });
    await server.keyward.policySweeper.runOnce();
    await server.keyward.policySweeper.runOnce();
    const [reminder] = await inbox.waitFor(user.email, /expires soon/);
    expect(reminder?.text).toContain('"short lived"');
    await server.keyward.policySweeper.runOnce();
    await server.keyward.mail?.drainNow();
    expect(inbox.to(user.email).filter((m) => /expires soon/.test(m.subject))).toHaveLength(1);
  });
});

describe("the queue", () => {
  it("survives a restart: what could not be sent before goes out after", async () => {
    const { client, user, appId } = await signUpConfirmed();
    await inbox.stop();
    await createToken(client, appId, { name: "while mail was down" });
    await pollUntil("a failed attempt", () => server.logs().includes("will retry"));
    expect(server.logs()).not.toContain("while mail was down");
    await server.close({ keepData: true });

    await inbox.start();
    server = await startTestServer(mailEnv(), { clock }, server.dataDir);
    // The retry falls due a minute after the failed attempt.
    clock.advance(MINUTE + 1000);
    await server.keyward.mail?.drainNow();
    const [mail] = await inbox.waitFor(user.email, /created/);
    expect(mail?.text).toContain('"while mail was down"');
  });
});

describe("without SMTP_URL", () => {
  let plain: TestServer;
  beforeAll(async () => {
    plain = await startTestServer();
  });
  afterAll(async () => {
    await plain?.close();
  });

  it("nothing waits for an email: invitations are accepted at once and a reset request changes nothing", async () => {
    const owner = await signUpUser(plain.baseUrl);
    const appId = await createApp(owner.client);
    const { client, user } = await signUpUser(plain.baseUrl);
    const me = await client.get<{ emailConfirmationPending?: boolean }>("/api/v1/me");
    expect(me.body.emailConfirmationPending).toBeUndefined();
    const invited = await owner.client.post<{ invitation: { id: string } }>(
      `/api/v1/applications/${appId}/members`,
      { email: user.email, role: "member" },
    );
    expect(
      (await client.post(`/api/v1/me/invitations/${invited.body.invitation.id}/accept`)).status,
    ).toBe(201);
    expect(
      (await new Client(plain.baseUrl).post("/api/v1/auth/password-reset", { email: user.email }))
        .status,
    ).toBe(202);
    expect(plain.keyward.mail).toBeUndefined();
    await createToken(client, appId, { name: "quiet" });
    expect(inbox.to(user.email)).toEqual([]);
  });

  it("`keyward users reset-password` prints a one-time link that works without SMTP", async () => {
    const { user } = await signUpUser(plain.baseUrl);
    const database = plain.config.database;
    const result = await runNode(
      [
        "--import",
        "tsx",
        join(REPO_ROOT, "src", "cli", "main.ts"),
        "users",
        "reset-password",
        user.email,
        "--json",
      ],
      {
        PATH: process.env.PATH ?? "",
        DATABASE_URL: database.kind === "sqlite" ? `sqlite:${database.path}` : database.url,
        PUBLIC_ORIGIN: plain.baseUrl,
        USER: "alice",
      },
    );
    expect(result.code, result.output).toBe(0);
    const { link } = JSON.parse(result.output) as { link: string };
    expect(link.startsWith(`${plain.baseUrl}/reset-password#code=`)).toBe(true);
    const code = link.split("#code=")[1] ?? "";
    const anonymous = new Client(plain.baseUrl);
    const body = { code, newPassword: "handed over passphrase" };
    expect((await anonymous.post("/api/v1/auth/password-reset/confirm", body)).status).toBe(204);
    expect((await anonymous.post("/api/v1/auth/password-reset/confirm", body)).status).toBe(410);
  });
});
