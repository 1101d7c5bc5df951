import { describe, expect, it } from "vitest";
import type { AuditPage, TokensUsage } from "../contract/index.js";
import {
  addMember,
  bearer,
  Client,
  createToken,
  flushUsage,
  signUpUser,
  signUpWithApp,
} from "../test-support/harness.js";
import { setUpTestServer } from "../test-support/server-fixture.js";

const server = setUpTestServer();

type Problem = { code: string };

/** Calls the protected API `times` times with `token`. */
async function use(token: string, times: number): Promise<void> {
  const caller = new Client(server.baseUrl);
  for (let i = 0; i < times; i++) {
    expect((await caller.get("/api", bearer(token))).status).toBe(200);
  }
}

describe("GET /api/v1/applications/:appId/usage", () => {
  it("answers the usage of a page of tokens in one request, own tokens or everyone's", async () => {
    const { client: owner, appId } = await signUpWithApp(server.baseUrl);
    const { client: member } = await addMember(owner, appId);
    const ownerToken = await createToken(owner, appId, { name: "owner's" });
    const memberToken = await createToken(member, appId, { name: "member's" });
    const idle = await createToken(member, appId, { name: "idle" });
    await use(ownerToken.token, 2);
    await use(memberToken.token, 3);
    await flushUsage(server);
    const usage = `/api/v1/applications/${appId}/usage`;

    const mine = await member.get<TokensUsage>(`${usage}?days=7`);
    expect(mine.status).toBe(200);
    const byId = new Map(mine.body.tokens.map((t) => [t.tokenId, t]));
    expect([...byId.keys()].sort()).toEqual([memberToken.id, idle.id].sort());
    expect(byId.get(memberToken.id)?.total).toBe(3);
    expect(byId.get(memberToken.id)?.daily).toHaveLength(7);
    expect(byId.get(memberToken.id)?.daily.at(-1)?.requests).toBe(3);
    expect(byId.get(idle.id)).toMatchObject({ total: 0 });
    expect(byId.get(idle.id)?.daily.every((d) => d.requests === 0)).toBe(true);

    const everyone = await owner.get<TokensUsage>(`${usage}?all=1`);
    expect(everyone.body.tokens.map((t) => t.tokenId).sort()).toEqual(
      [ownerToken.id, memberToken.id, idle.id].sort(),
    );
    expect(everyone.body.tokens.find((t) => t.tokenId === ownerToken.id)?.daily).toHaveLength(30);

    // A page of ids, in the order asked; a manager sees anyone's.
    const page = await owner.get<TokensUsage>(
      `${usage}?days=3&tokenIds=${memberToken.id},${ownerToken.id}`,
    );
    expect(page.body.tokens.map((t) => [t.tokenId, t.total])).toEqual([
      [memberToken.id, 3],
      [ownerToken.id, 2],
    ]);
    // A member asking for someone else's token gets nothing for it, as if it did not exist.
    const guessed = await member.get<TokensUsage>(`${usage}?tokenIds=${ownerToken.id},${idle.id}`);
    expect(guessed.body.tokens.map((t) => t.tokenId)).toEqual([idle.id]);
  });

  it("refuses everyone's usage to a member, strangers, bad days and too many ids", async () => {
    const { client: owner, appId } = await signUpWithApp(server.baseUrl);
    const { client: member } = await addMember(owner, appId);
    const usage = `/api/v1/applications/${appId}/usage`;

    const forbidden = await member.get<Problem>(`${usage}?all=1`);
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.code).toBe("forbidden");

    const { client: stranger } = await signUpUser(server.baseUrl);
    const hidden = await stranger.get<Problem>(usage);
    expect(hidden.status).toBe(404);
    expect(hidden.body.code).toBe("not_found");
    const unknown = await owner.get<Problem>(`/api/v1/applications/app_${"x".repeat(20)}/usage`);
    expect(unknown.status).toBe(404);

    for (const days of ["0", "367", "-1", "abc", "1.5"]) {
      const res = await owner.get<Problem>(`${usage}?days=${days}`);
      expect(res.status, days).toBe(400);
      expect(res.body.code).toBe("validation_failed");
    }
    const ids = (n: number) =>
      Array.from({ length: n }, (_, i) => `tok_${String(i).padStart(20, "0")}`).join(",");
    expect((await owner.get(`${usage}?tokenIds=${ids(100)}`)).status).toBe(200);
    expect((await owner.get<Problem>(`${usage}?tokenIds=${ids(101)}`)).status).toBe(400);
    expect((await owner.get<Problem>(`${usage}?tokenIds=nope`)).status).toBe(400);

    expect((await new Client(server.baseUrl).get(usage)).status).toBe(401);
  });
});

describe("GET /api/v1/applications/:appId/audit search and total", () => {
  it("counts the matching events and finds them by actor email or token name", async () => {
    const { client: owner, user: ownerUser, appId } = await signUpWithApp(server.baseUrl);
    const { client: member, user: memberUser } = await addMember(owner, appId);
    await createToken(owner, appId, { name: "Nightly Backup" });
    for (let i = 0; i < 3; i++) await createToken(member, appId, { name: `deploy ${i}` });
    const audit = `/api/v1/applications/${appId}/audit`;

    const first = await owner.get<AuditPage>(`${audit}?limit=2`);
    // member.invited, member.added (on accepting), one owner token, three member tokens.
    expect(first.body.total).toBe(6);
    expect(first.body.events).toHaveLength(2);
    const second = await owner.get<AuditPage>(`${audit}?limit=2&before=${first.body.nextBefore}`);
    expect(second.body.total).toBe(6);

    const byEmail = await owner.get<AuditPage>(
      `${audit}?q=${encodeURIComponent(memberUser.email.toUpperCase())}`,
    );
    expect(byEmail.body.total).toBe(3);
    expect(byEmail.body.events.every((e) => e.actor?.email === memberUser.email)).toBe(true);
    const byName = await owner.get<AuditPage>(`${audit}?q=backup`);
    expect(byName.body.events.map((e) => e.tokenName)).toEqual(["Nightly Backup"]);
    expect(byName.body.events[0]?.actor?.email).toBe(ownerUser.email);
    expect(byName.body.total).toBe(1);
    const filtered = await owner.get<AuditPage>(`${audit}?q=deploy&action=token.created&limit=1`);
    expect(filtered.body).toMatchObject({ total: 3 });
    expect(filtered.body.events).toHaveLength(1);

    // A member's search stays inside their own tokens' events.
    const memberSearch = await member.get<AuditPage>(`${audit}?q=backup`);
    expect(memberSearch.body).toMatchObject({ total: 0, events: [] });
    expect((await owner.get(`${audit}?q=${"x".repeat(101)}`)).status).toBe(400);

    const account = await owner.get<AuditPage>("/api/v1/me/audit");
    expect(account.body.total).toBe(account.body.events.length);
    expect(account.body.total).toBeGreaterThan(0);
  });
});
