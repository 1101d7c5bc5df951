import { createHash } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { StorageUnavailableError } from "../core/errors.js";
import { type Application, NO_POLICY } from "../core/model.js";
import type {
  AuditAction,
  AuditEventInput,
  NewToken,
  SessionRecord,
  Store,
  UserWithPassword,
} from "../services/ports.js";

/**
 * The behaviour every Store must have, as vitest tests. Each store implementation runs it
 * against a real database (no mocks): `openEmptyStore` returns a fresh store with an empty,
 * migrated schema for one test; the suite closes it afterwards.
 */
let sessionCounter = 0;

/** A session record with the fields a test does not care about filled in. */
function sessionRow(
  fields: Pick<SessionRecord, "idHash" | "userId" | "createdAt" | "expiresAt"> &
    Partial<SessionRecord>,
): SessionRecord {
  sessionCounter += 1;
  return {
    id: `ses_${String(sessionCounter).padStart(20, "0")}`,
    lastSeenAt: fields.createdAt,
    userAgent: null,
    address: null,
    reauthenticatedAt: fields.createdAt,
    ...fields,
  };
}

export function defineStoreContract(
  label: string,
  openEmptyStore: () => Promise<Store>,
  options: { skip?: boolean } = {},
): void {
  describe.skipIf(options.skip === true)(`Store contract: ${label}`, () => {
    let store: Store;
    let closed = false;
    let seq = 0;
    const T0 = Date.UTC(2030, 0, 15, 12, 0, 0);

    beforeEach(async () => {
      store = await openEmptyStore();
      closed = false;
    });
    afterEach(async () => {
      if (!closed) await store.close();
    });

    const id = (kind: string) => `${kind}_${String(++seq).padStart(20, "0")}`;

    async function addUser(overrides: Partial<UserWithPassword> = {}): Promise<UserWithPassword> {
      const userId = id("usr");
      const user: UserWithPassword = {
        id: userId,
        email: `${userId}@example.com`,
        name: `User ${userId}`,
        passwordHash: `hash-of-${userId}`,
        createdAt: T0,
        ...overrides,
      };
      expect(await store.users.insertUser(user)).toEqual({ ok: true });
      return user;
    }

    async function addApp(ownerId: string, overrides: Partial<Application> = {}) {
      const app: Application = {
        id: id("app"),
        name: "Demo",
        ownerId,
        scopes: ["read", "write"],
        createdAt: T0,
        returnOrigins: [],
        branding: null,
        policy: NO_POLICY,
        ...overrides,
      };
      await store.applications.insertApplication(app);
      return app;
    }

    function newToken(applicationId: string, userId: string, over: Partial<NewToken> = {}) {
      const tokenId = id("tok");
      return {
        id: tokenId,
        applicationId,
        userId,
        name: `token ${tokenId}`,
        hint: "kw_…abcd",
        scopes: ["read"],
        createdAt: T0,
        expiresAt: null,
        secretHash: `secret-${tokenId}`,
        ...over,
      } satisfies NewToken;
    }

    const rules = { maxActivePerUser: 100, now: T0 };

    async function addToken(applicationId: string, userId: string, over: Partial<NewToken> = {}) {
      const token = newToken(applicationId, userId, over);
      expect(await store.tokens.insertToken(token, rules)).toEqual({ ok: true });
      return token;
    }

    /** Revokes the token at T0 as its own user would, without audit events. */
    function revokeByUser(tokenId: string) {
      return store.tokens.revokeToken({ tokenId, now: T0, reason: "user", revokedBy: null });
    }

    /** A member (not owner) of a fresh application, with its owner. */
    async function appWithMember() {
      const owner = await addUser();
      const member = await addUser();
      const app = await addApp(owner.id);
      await store.applications.insertMember({
        applicationId: app.id,
        userId: member.id,
        role: "member",
        createdAt: T0 + 1,
      });
      return { owner, member, app };
    }

    describe("users", () => {
      it("finds an inserted user by email (with the password hash) and by id (without)", async () => {
        const user = await addUser({ name: "Ada" });
        expect(await store.users.findUserByEmail(user.email)).toEqual({
          ...user,
          disabledAt: null,
        });
        const byId = await store.users.findUserById(user.id);
        expect(byId).toEqual({
          id: user.id,
          email: user.email,
          name: "Ada",
          createdAt: T0,
        });
        expect(byId).not.toHaveProperty("passwordHash");
        expect(await store.users.findUserByEmail("nobody@example.com")).toBeUndefined();
        expect(await store.users.findUserById("usr_missing")).toBeUndefined();
      });

      it("refuses a second user with the same email as email_taken", async () => {
        const user = await addUser();
        const again = await store.users.insertUser({ ...user, id: id("usr") });
        expect(again).toEqual({ ok: false, reason: "email_taken" });
      });
    });

    describe("sessions", () => {
      it("finds a session with its user, and forgets it once deleted", async () => {
        const user = await addUser();
        const session = sessionRow({
          idHash: "session-1",
          userId: user.id,
          createdAt: T0,
          expiresAt: T0 + 1000,
        });
        await store.sessions.insertSession(session);
        const found = await store.sessions.findSession("session-1");
        expect(found).toEqual({
          session: { ...session, applicationId: null, returnUrl: null },
          user: { id: user.id, email: user.email, name: user.name, createdAt: T0 },
        });
        await store.sessions.deleteSession("session-1");
        expect(await store.sessions.findSession("session-1")).toBeUndefined();
      });

      it("deletes only sessions expired at the given time, and counts them", async () => {
        const user = await addUser();
        for (const [idHash, expiresAt] of [
          ["a", T0 - 1],
          ["b", T0],
          ["c", T0 + 1],
        ] as const) {
          await store.sessions.insertSession(
            sessionRow({ idHash, userId: user.id, createdAt: 0, expiresAt }),
          );
        }
        expect(await store.sessions.deleteExpiredSessions(T0)).toBe(2);
        expect(await store.sessions.findSession("a")).toBeUndefined();
        expect(await store.sessions.findSession("b")).toBeUndefined();
        expect(await store.sessions.findSession("c")).toBeDefined();
      });

      it("deletes idle sessions too when given the idle limit", async () => {
        const user = await addUser();
        await store.sessions.insertSession(
          sessionRow({ idHash: "idle", userId: user.id, createdAt: T0, expiresAt: T0 + 99 }),
        );
        await store.sessions.insertSession(
          sessionRow({ idHash: "used", userId: user.id, createdAt: T0, expiresAt: T0 + 99 }),
        );
        await store.sessions.touchSession("used", T0 + 10);
        expect(await store.sessions.deleteExpiredSessions(T0 + 11, T0 + 5)).toBe(1);
        expect(await store.sessions.findSession("idle")).toBeUndefined();
        expect((await store.sessions.findSession("used"))?.session.lastSeenAt).toBe(T0 + 10);
      });

      it("lists a user's sessions with where they came from, most recently used first", async () => {
        const user = await addUser();
        const other = await addUser();
        const older = sessionRow({
          idHash: "l-1",
          userId: user.id,
          createdAt: T0,
          expiresAt: T0 + 99,
          userAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0",
          address: "203.0.113.9",
        });
        const newer = sessionRow({
          idHash: "l-2",
          userId: user.id,
          createdAt: T0 + 1,
          expiresAt: T0 + 99,
        });
        await store.sessions.insertSession(older);
        await store.sessions.insertSession(newer);
        await store.sessions.insertSession(
          sessionRow({ idHash: "l-3", userId: other.id, createdAt: T0, expiresAt: T0 + 99 }),
        );
        const listed = await store.sessions.listSessions(user.id);
        expect(listed.map((s) => s.idHash)).toEqual(["l-2", "l-1"]);
        expect(listed[1]).toEqual({ ...older, applicationId: null, returnUrl: null });
      });

      it("ends one session by its public id, only the user's own", async () => {
        const user = await addUser();
        const other = await addUser();
        const session = sessionRow({
          idHash: "d-1",
          userId: user.id,
          createdAt: T0,
          expiresAt: T0 + 99,
        });
        await store.sessions.insertSession(session);
        expect(await store.sessions.deleteSessionById(other.id, session.id)).toBe(false);
        expect(await store.sessions.findSession("d-1")).toBeDefined();
        expect(await store.sessions.deleteSessionById(user.id, session.id)).toBe(true);
        expect(await store.sessions.findSession("d-1")).toBeUndefined();
      });

      it("ends every session of the user but the one kept", async () => {
        const user = await addUser();
        const other = await addUser();
        for (const idHash of ["o-1", "o-2", "o-3"]) {
          await store.sessions.insertSession(
            sessionRow({ idHash, userId: user.id, createdAt: T0, expiresAt: T0 + 99 }),
          );
        }
        await store.sessions.insertSession(
          sessionRow({ idHash: "o-4", userId: other.id, createdAt: T0, expiresAt: T0 + 99 }),
        );
        expect(await store.sessions.deleteOtherSessions(user.id, "o-2")).toBe(2);
        expect((await store.sessions.listSessions(user.id)).map((s) => s.idHash)).toEqual(["o-2"]);
        expect(await store.sessions.findSession("o-4")).toBeDefined();
      });

      it("records a typed password, and a password change ends the other sessions in one go", async () => {
        const user = await addUser();
        for (const idHash of ["p-1", "p-2"]) {
          await store.sessions.insertSession(
            sessionRow({ idHash, userId: user.id, createdAt: T0, expiresAt: T0 + 99 }),
          );
        }
        await store.sessions.markReauthenticated("p-1", T0 + 5);
        expect((await store.sessions.findSession("p-1"))?.session.reauthenticatedAt).toBe(T0 + 5);
        const before = await store.users.findPasswordHash(user.id);
        const result = await store.users.changePassword({
          userId: user.id,
          passwordHash: "new-hash",
          keepIdHash: "p-1",
        });
        expect(result).toEqual({ endedSessions: 1 });
        expect(before).not.toBe("new-hash");
        expect(await store.users.findPasswordHash(user.id)).toBe("new-hash");
        expect(await store.sessions.findSession("p-2")).toBeUndefined();
        expect(await store.sessions.findSession("p-1")).toBeDefined();
      });
    });

    describe("two-factor", () => {
      it("replaces a pending secret, never a confirmed one, and confirms only the secret shown", async () => {
        const user = await addUser();
        const tf = store.twoFactor;
        expect(await tf.find(user.id)).toBeUndefined();
        expect(await tf.startEnrollment({ userId: user.id, secret: "FIRST", createdAt: T0 })).toBe(
          true,
        );
        expect(await tf.startEnrollment({ userId: user.id, secret: "SECOND", createdAt: T0 })).toBe(
          true,
        );
        const confirm = (secret: string) =>
          tf.confirm({
            userId: user.id,
            secret,
            step: 100,
            confirmedAt: T0 + 1,
            recoveryCodeHashes: ["h1", "h2"],
          });
        expect(await confirm("FIRST")).toBe(false);
        expect(await tf.spendStep(user.id, 101)).toBe(false);
        expect(await confirm("SECOND")).toBe(true);
        expect(await confirm("SECOND")).toBe(false);
        expect(await tf.find(user.id)).toEqual({
          userId: user.id,
          secret: "SECOND",
          createdAt: T0,
          confirmedAt: T0 + 1,
          lastUsedStep: 100,
        });
        expect(await tf.startEnrollment({ userId: user.id, secret: "THIRD", createdAt: T0 })).toBe(
          false,
        );
        expect((await tf.find(user.id))?.secret).toBe("SECOND");
        expect((await tf.unusedRecoveryCodes(user.id)).sort()).toEqual(["h1", "h2"]);
      });

      it("spends each time step and recovery code once, even when raced, and forgets all when off", async () => {
        const user = await addUser();
        const tf = store.twoFactor;
        await tf.startEnrollment({ userId: user.id, secret: "S", createdAt: T0 });
        await tf.confirm({
          userId: user.id,
          secret: "S",
          step: 100,
          confirmedAt: T0,
          recoveryCodeHashes: ["h1", "h2"],
        });
        expect(await tf.spendStep(user.id, 100)).toBe(false);
        expect(await tf.spendStep(user.id, 99)).toBe(false);
        const raced = await Promise.all([1, 2, 3, 4].map(() => tf.spendStep(user.id, 101)));
        expect(raced.filter(Boolean)).toHaveLength(1);
        const spend = () => tf.spendRecoveryCode({ userId: user.id, codeHash: "h1", usedAt: T0 });
        const racedCodes = await Promise.all([spend(), spend(), spend()]);
        expect(racedCodes.filter(Boolean)).toHaveLength(1);
        expect(await tf.unusedRecoveryCodes(user.id)).toEqual(["h2"]);
        expect(await tf.disable(user.id)).toBe(true);
        expect(await tf.disable(user.id)).toBe(false);
        expect(await tf.find(user.id)).toBeUndefined();
        expect(await tf.unusedRecoveryCodes(user.id)).toEqual([]);
      });
    });

    describe("applications and members", () => {
      it("inserts an application together with its owner's membership", async () => {
        const owner = await addUser();
        const app = await addApp(owner.id, { scopes: ["a", "b:c"] });
        expect(await store.applications.findApplication(app.id)).toEqual(app);
        expect(await store.applications.findRole(app.id, owner.id)).toBe("owner");
        expect(await store.applications.listApplicationsForUser(owner.id)).toEqual([
          { id: app.id, name: app.name, role: "owner" },
        ]);
        expect(await store.applications.listMembers(app.id)).toEqual([
          { userId: owner.id, email: owner.email, name: owner.name, role: "owner", joinedAt: T0 },
        ]);
        expect(await store.applications.findApplication("app_missing")).toBeUndefined();
      });

      it("lists a user's applications oldest first, with their role in each", async () => {
        const owner = await addUser();
        const other = await addUser();
        const second = await addApp(owner.id, { name: "Second", createdAt: T0 + 10 });
        const first = await addApp(owner.id, { name: "First", createdAt: T0 });
        const theirs = await addApp(other.id, { name: "Theirs", createdAt: T0 + 5 });
        await store.applications.insertMember({
          applicationId: theirs.id,
          userId: owner.id,
          role: "admin",
          createdAt: T0 + 20,
        });
        expect(await store.applications.listApplicationsForUser(owner.id)).toEqual([
          { id: first.id, name: "First", role: "owner" },
          { id: theirs.id, name: "Theirs", role: "admin" },
          { id: second.id, name: "Second", role: "owner" },
        ]);
      });

      it("adds a member once; a second add is already_member", async () => {
        const { owner, member, app } = await appWithMember();
        expect(await store.applications.findRole(app.id, member.id)).toBe("member");
        const again = await store.applications.insertMember({
          applicationId: app.id,
          userId: member.id,
          role: "admin",
          createdAt: T0 + 2,
        });
        expect(again).toEqual({ ok: false, reason: "already_member" });
        expect(await store.applications.findRole(app.id, member.id)).toBe("member");
        expect((await store.applications.listMembers(app.id)).map((m) => m.userId)).toEqual([
          owner.id,
          member.id,
        ]);
      });

      it("removing a member revokes exactly that member's active tokens in that application", async () => {
        const { owner, member, app } = await appWithMember();
        const otherApp = await addApp(owner.id);
        await store.applications.insertMember({
          applicationId: otherApp.id,
          userId: member.id,
          role: "member",
          createdAt: T0,
        });
        const kept = await addToken(otherApp.id, member.id);
        const ownersToken = await addToken(app.id, owner.id);
        const active1 = await addToken(app.id, member.id);
        const active2 = await addToken(app.id, member.id);
        const alreadyRevoked = await addToken(app.id, member.id);
        await store.tokens.revokeToken({
          tokenId: alreadyRevoked.id,
          now: T0 + 1,
          reason: "user",
          revokedBy: member.id,
        });

        const result = await store.applications.removeMember({
          applicationId: app.id,
          userId: member.id,
          now: T0 + 50,
          revokedBy: owner.id,
        });
        expect(result.removed).toBe(true);
        expect([...result.revokedTokenIds].sort()).toEqual([active1.id, active2.id].sort());
        expect(await store.applications.findRole(app.id, member.id)).toBeUndefined();

        for (const t of [active1, active2]) {
          const record = await store.tokens.findToken(app.id, t.id);
          expect(record).toMatchObject({ revokedAt: T0 + 50, revokedReason: "member_removed" });
          expect((await store.tokens.findSecret(t.secretHash))?.revokedAt).toBe(T0 + 50);
        }
        expect(await store.tokens.findToken(app.id, alreadyRevoked.id)).toMatchObject({
          revokedAt: T0 + 1,
          revokedReason: "user",
        });
        expect((await store.tokens.findToken(app.id, ownersToken.id))?.revokedAt).toBeNull();
        expect((await store.tokens.findToken(otherApp.id, kept.id))?.revokedAt).toBeNull();
      });

      it("never leaves an active token to a member removed while the token was being created", async () => {
        for (let i = 0; i < 16; i++) {
          const { owner, member, app } = await appWithMember();
          const token = newToken(app.id, member.id);
          const insert = () => store.tokens.insertToken(token, rules);
          const remove = () =>
            store.applications.removeMember({
              applicationId: app.id,
              userId: member.id,
              now: T0 + 1,
              revokedBy: owner.id,
            });
          // Both orders of arrival.
          const [inserted] =
            i % 2 === 0
              ? await Promise.allSettled([insert(), remove()])
              : (await Promise.allSettled([remove(), insert()])).reverse();
          if (inserted?.status === "rejected") {
            // Refused as for any non-member: the application is not theirs to see.
            expect(inserted.reason).toMatchObject({ code: "not_found" });
          }
          for (const t of await store.tokens.listTokens(app.id, member.id)) {
            expect(t.revokedAt).not.toBeNull();
          }
          const secret = await store.tokens.findSecret(token.secretHash);
          if (secret) expect(secret.revokedAt).not.toBeNull();
        }
      });

      it("never removes the owner, and reports a non-member as not removed", async () => {
        const { owner, app } = await appWithMember();
        const token = await addToken(app.id, owner.id);
        const stranger = await addUser();
        for (const userId of [owner.id, stranger.id]) {
          const result = await store.applications.removeMember({
            applicationId: app.id,
            userId,
            now: T0,
            revokedBy: owner.id,
          });
          expect(result).toEqual({ removed: false, revokedTokenIds: [] });
        }
        expect(await store.applications.findRole(app.id, owner.id)).toBe("owner");
        expect((await store.tokens.findToken(app.id, token.id))?.revokedAt).toBeNull();
      });
    });

    describe("tokens", () => {
      it("finds an inserted token within its application only", async () => {
        const { member, app } = await appWithMember();
        const token = await addToken(app.id, member.id, {
          name: "ci",
          scopes: ["read", "write"],
          expiresAt: T0 + 86_400_000,
        });
        expect(await store.tokens.findToken(app.id, token.id)).toMatchObject({
          id: token.id,
          applicationId: app.id,
          userId: member.id,
          ownerEmail: member.email,
          name: "ci",
          hint: token.hint,
          scopes: ["read", "write"],
          createdAt: T0,
          expiresAt: T0 + 86_400_000,
          lastUsedAt: null,
          revokedAt: null,
          revokedReason: null,
          refusedCount: 0,
          refusedLastAt: null,
        });
        const otherApp = await addApp(member.id);
        expect(await store.tokens.findToken(otherApp.id, token.id)).toBeUndefined();
      });

      it("refuses a name the owner already uses on an active token as name_taken", async () => {
        const { owner, member, app } = await appWithMember();
        const first = await addToken(app.id, member.id, { name: "deploy" });
        const clash = newToken(app.id, member.id, { name: "deploy" });
        expect(await store.tokens.insertToken(clash, rules)).toEqual({
          ok: false,
          reason: "name_taken",
        });
        // Another owner, or the same owner in another application, may use it.
        await addToken(app.id, owner.id, { name: "deploy" });
        await addToken((await addApp(member.id)).id, member.id, { name: "deploy" });
        // A revoked or expired token frees its name.
        await revokeByUser(first.id);
        await addToken(app.id, member.id, { name: "deploy", expiresAt: T0 + 10 });
        const later = { maxActivePerUser: 100, now: T0 + 10 };
        const reuse = newToken(app.id, member.id, { name: "deploy" });
        expect(await store.tokens.insertToken(reuse, later)).toEqual({ ok: true });
      });

      it("refuses a token past the owner's active limit as limit_reached; inactive ones don't count", async () => {
        const { member, app } = await appWithMember();
        const limit = { maxActivePerUser: 2, now: T0 + 100 };
        const revoked = newToken(app.id, member.id);
        const expired = newToken(app.id, member.id, { expiresAt: T0 + 100 });
        expect(await store.tokens.insertToken(revoked, rules)).toEqual({ ok: true });
        expect(await store.tokens.insertToken(expired, rules)).toEqual({ ok: true });
        await revokeByUser(revoked.id);
        expect(await store.tokens.insertToken(newToken(app.id, member.id), limit)).toEqual({
          ok: true,
        });
        expect(await store.tokens.insertToken(newToken(app.id, member.id), limit)).toEqual({
          ok: true,
        });
        const third = newToken(app.id, member.id);
        expect(await store.tokens.insertToken(third, limit)).toEqual({
          ok: false,
          reason: "limit_reached",
        });
        expect(await store.tokens.findToken(app.id, third.id)).toBeUndefined();
      });

      it("lets exactly one of many concurrent inserts with one name succeed", async () => {
        const { member, app } = await appWithMember();
        const results = await Promise.all(
          Array.from({ length: 12 }, () =>
            store.tokens.insertToken(newToken(app.id, member.id, { name: "race" }), rules),
          ),
        );
        expect(results.filter((r) => r.ok)).toHaveLength(1);
        expect(results.filter((r) => !r.ok && r.reason === "name_taken")).toHaveLength(11);
        expect(await store.tokens.listTokens(app.id, member.id)).toHaveLength(1);
      });

      it("never lets concurrent inserts pass the active limit", async () => {
        const { member, app } = await appWithMember();
        const limit = { maxActivePerUser: 3, now: T0 };
        const results = await Promise.all(
          Array.from({ length: 12 }, () =>
            store.tokens.insertToken(newToken(app.id, member.id), limit),
          ),
        );
        expect(results.filter((r) => r.ok)).toHaveLength(3);
        expect(results.filter((r) => !r.ok && r.reason === "limit_reached")).toHaveLength(9);
        expect(await store.tokens.listTokens(app.id, member.id)).toHaveLength(3);
      });

      it("lists tokens newest first, the owner's only or everyone's", async () => {
        const { owner, member, app } = await appWithMember();
        const a = await addToken(app.id, member.id, { createdAt: T0 });
        const b = await addToken(app.id, owner.id, { createdAt: T0 + 1 });
        const c = await addToken(app.id, member.id, { createdAt: T0 + 2 });
        // Same millisecond: the id breaks the tie, so the order is stable.
        const d = await addToken(app.id, member.id, { createdAt: T0 + 2 });
        const ids = (records: { id: string }[]) => records.map((r) => r.id);
        expect(ids(await store.tokens.listTokens(app.id, member.id))).toEqual([d.id, c.id, a.id]);
        expect(ids(await store.tokens.listTokens(app.id, undefined))).toEqual([
          d.id,
          c.id,
          b.id,
          a.id,
        ]);
        const all = await store.tokens.listTokens(app.id, undefined);
        expect(all.find((t) => t.id === b.id)?.ownerEmail).toBe(owner.email);
        expect(await store.tokens.listTokens((await addApp(owner.id)).id, undefined)).toEqual([]);
      });

      it("revokes a token once: later calls change nothing and report false", async () => {
        const { owner, member, app } = await appWithMember();
        const token = await addToken(app.id, member.id);
        const revoke = (now: number, revokedBy: string) =>
          store.tokens.revokeToken({ tokenId: token.id, now, reason: "admin", revokedBy });
        expect(await revoke(T0 + 5, owner.id)).toBe(true);
        expect(await revoke(T0 + 9, member.id)).toBe(false);
        expect(await store.tokens.findToken(app.id, token.id)).toMatchObject({
          revokedAt: T0 + 5,
          revokedReason: "admin",
        });
        expect(await revokeByUser("tok_missing")).toBe(false);
      });

      it("finds a secret with everything the hot path needs, and nothing for an unknown hash", async () => {
        const { member, app } = await appWithMember();
        const token = await addToken(app.id, member.id, {
          name: "hot",
          scopes: ["read"],
          expiresAt: T0 + 1000,
        });
        const readsBefore = store.stats.reads;
        expect(await store.tokens.findSecret(token.secretHash)).toEqual({
          tokenId: token.id,
          tokenName: "hot",
          scopes: ["read"],
          applicationId: app.id,
          applicationName: app.name,
          userId: member.id,
          userEmail: member.email,
          externalId: null,
          expiresAt: T0 + 1000,
          revokedAt: null,
          secretExpiresAt: null,
          allowedAddresses: null,
          imported: false,
        });
        expect(store.stats.reads).toBeGreaterThan(readsBefore);
        expect(await store.tokens.findSecret("no-such-hash")).toBeUndefined();
      });

      it("never says from memory that a stored secret is absent, nor once closed", async () => {
        const { member, app } = await appWithMember();
        const binary = (text: string) => createHash("sha256").update(text).digest("binary");
        const hex = (text: string) => createHash("sha256").update(text).digest("hex");
        const stored = await addToken(app.id, member.id, { secretHash: hex("stored") });
        expect(stored.secretHash).toBe(hex("stored"));
        // Optional: a store without an answer from memory always reads.
        const mayHold = store.tokens.mayHoldSecret?.bind(store.tokens) ?? (() => true);
        expect(mayHold(binary("stored"))).toBe(true);
        await store.close();
        closed = true;
        expect(mayHold(binary("never stored"))).toBe(true);
      });

      it("answers many lookups made at once, each with its own secret (on PostgreSQL they share queries)", async () => {
        const { member, app } = await appWithMember();
        const tokens = await Promise.all(
          ["one", "two", "three"].map((name) => addToken(app.id, member.id, { name })),
        );
        const asked = [
          ...tokens.map((token) => token.secretHash),
          "made-up-1",
          tokens[1]?.secretHash ?? "",
          "made-up-2",
          tokens[0]?.secretHash ?? "",
        ];
        const answers = await Promise.all(asked.map((hash) => store.tokens.findSecret(hash)));
        expect(answers.map((answer) => answer?.tokenName)).toEqual([
          "one",
          "two",
          "three",
          undefined,
          "two",
          undefined,
          "one",
        ]);
        // Each caller owns its answer: the verifier's cache rewrites records it keeps.
        expect(answers[1]).not.toBe(answers[4]);
      });

      it("imports tokens by hash in one transaction, skips hashes already stored, and finds them as imported", async () => {
        const { member, app } = await appWithMember();
        const own = await addToken(app.id, member.id, { name: "own" });
        const imported = (n: number, hash: string) => ({
          id: `tok_imported${String(n).padStart(9, "0")}`,
          applicationId: app.id,
          userId: member.id,
          name: `imported ${n}`,
          hint: "imported",
          scopes: ["read"],
          secretHash: hash,
          createdAt: T0,
          expiresAt: null,
          importedAt: T0 + 1,
        });
        const hashA = "a1".repeat(32);
        const hashB = "b2".repeat(32);
        const event = {
          applicationId: app.id,
          userId: null,
          actorId: null,
          tokenId: null,
          action: "token.imported" as const,
          reason: null,
          detail: { tokens: 2 },
          ip: null,
          createdAt: T0 + 1,
        };
        expect(await store.tokens.hasImportedTokens()).toBe(false);
        expect(
          await store.operator.importTokens([imported(1, hashA), imported(2, hashB)], [event]),
        ).toEqual({ imported: 2, skipped: 0 });
        expect(await store.tokens.hasImportedTokens()).toBe(true);
        expect(await store.tokens.findSecret(hashA)).toMatchObject({
          tokenId: imported(1, hashA).id,
          scopes: ["read"],
          imported: true,
        });
        expect((await store.tokens.findSecret(own.secretHash))?.imported).toBe(false);
        expect(
          (
            await store.operator.existingSecretHashes([hashA, own.secretHash, "c3".repeat(32)])
          ).sort(),
        ).toEqual([hashA, own.secretHash].sort());
        // Again (a resumed import), plus the hash of one of our own tokens: nothing doubles.
        expect(
          await store.operator.importTokens(
            [imported(3, hashA), imported(4, own.secretHash)],
            [event],
          ),
        ).toEqual({ imported: 0, skipped: 2 });
        expect(await store.tokens.findToken(app.id, imported(3, hashA).id)).toBeUndefined();
      });

      it("replaces a secret without grace: the old one is gone at once", async () => {
        const { member, app } = await appWithMember();
        const token = await addToken(app.id, member.id);
        const replaced = await store.tokens.replaceSecret({
          tokenId: token.id,
          secretHash: "new-secret",
          hint: "kw_…new1",
          now: T0 + 10,
          oldSecretsExpireAt: T0 + 10,
        });
        expect(replaced).toBe(true);
        expect(await store.tokens.findSecret(token.secretHash)).toBeUndefined();
        expect(await store.tokens.findSecret("new-secret")).toMatchObject({
          tokenId: token.id,
          secretExpiresAt: null,
        });
        expect((await store.tokens.findToken(app.id, token.id))?.hint).toBe("kw_…new1");
      });

      it("replaces a secret with grace: the old one ends at the grace time and never gains time", async () => {
        const { member, app } = await appWithMember();
        const token = await addToken(app.id, member.id);
        const replace = (secretHash: string, now: number, oldSecretsExpireAt: number) =>
          store.tokens.replaceSecret({
            tokenId: token.id,
            secretHash,
            hint: "kw_…x",
            now,
            oldSecretsExpireAt,
          });
        expect(await replace("second", T0 + 10, T0 + 1000)).toBe(true);
        expect((await store.tokens.findSecret(token.secretHash))?.secretExpiresAt).toBe(T0 + 1000);
        expect((await store.tokens.findSecret("second"))?.secretExpiresAt).toBeNull();

        // A longer grace on the next regeneration does not extend the first secret.
        expect(await replace("third", T0 + 20, T0 + 5000)).toBe(true);
        expect((await store.tokens.findSecret(token.secretHash))?.secretExpiresAt).toBe(T0 + 1000);
        expect((await store.tokens.findSecret("second"))?.secretExpiresAt).toBe(T0 + 5000);

        // Secrets already past their end are deleted by the next regeneration.
        expect(await replace("fourth", T0 + 2000, T0 + 3000)).toBe(true);
        expect(await store.tokens.findSecret(token.secretHash)).toBeUndefined();
        expect((await store.tokens.findSecret("second"))?.secretExpiresAt).toBe(T0 + 3000);
        expect((await store.tokens.findSecret("third"))?.secretExpiresAt).toBe(T0 + 3000);
      });

      it("does not replace the secret of a revoked or expired token", async () => {
        const { member, app } = await appWithMember();
        const revoked = await addToken(app.id, member.id);
        const expiring = await addToken(app.id, member.id, { expiresAt: T0 + 5 });
        await revokeByUser(revoked.id);
        for (const [token, hash] of [
          [revoked, "r2"],
          [expiring, "e2"],
        ] as const) {
          const replaced = await store.tokens.replaceSecret({
            tokenId: token.id,
            secretHash: hash,
            hint: "kw_…zz",
            now: T0 + 5,
            oldSecretsExpireAt: T0 + 5,
          });
          expect(replaced).toBe(false);
          expect(await store.tokens.findSecret(hash)).toBeUndefined();
          expect(await store.tokens.findSecret(token.secretHash)).toBeDefined();
        }
      });
      it("acts on a leaked secret by what it is now: current revokes, old in grace ends alone, else nothing", async () => {
        const { member, app } = await appWithMember();
        const event = (tokenId: string, action: AuditAction): AuditEventInput => ({
          applicationId: app.id,
          userId: member.id,
          actorId: null,
          tokenId,
          action,
          reason: "leaked",
          detail: { source: "leak_report" },
          ip: null,
          createdAt: T0 + 20,
        });
        const report = (tokenId: string, secretHash: string, now = T0 + 20) =>
          store.tokens.revokeLeakedSecret(
            { tokenId, secretHash, now },
            {
              revoked: [event(tokenId, "token.revoked")],
              secretEnded: [event(tokenId, "token.secret_ended")],
            },
          );
        const actions = async (tokenId: string) =>
          (await store.audit.list({ tokenId, limit: 50 })).map((e) => e.action);

        // An old secret in its grace period: it ends; the token and its new secret stay.
        const regenerated = await addToken(app.id, member.id);
        await store.tokens.replaceSecret({
          tokenId: regenerated.id,
          secretHash: `${regenerated.secretHash}-new`,
          hint: "kw_…new1",
          now: T0 + 10,
          oldSecretsExpireAt: T0 + 1000,
        });
        expect(await report(regenerated.id, regenerated.secretHash)).toBe("secret_ended");
        expect(await store.tokens.findSecret(regenerated.secretHash)).toBeUndefined();
        expect(await store.tokens.findSecret(`${regenerated.secretHash}-new`)).toMatchObject({
          revokedAt: null,
          secretExpiresAt: null,
        });
        expect(await actions(regenerated.id)).toEqual(["token.secret_ended"]);

        // The current secret: the token is revoked, as leaked, by nobody.
        expect(await report(regenerated.id, `${regenerated.secretHash}-new`)).toBe("revoked");
        expect(await store.tokens.findToken(app.id, regenerated.id)).toMatchObject({
          revokedAt: T0 + 20,
          revokedReason: "leaked",
        });
        expect((await actions(regenerated.id)).sort()).toEqual(
          ["token.revoked", "token.secret_ended"].sort(),
        );
        // Reported again: nothing more happens, and nothing more is recorded.
        expect(await report(regenerated.id, `${regenerated.secretHash}-new`)).toBe("unchanged");
        expect(await actions(regenerated.id)).toHaveLength(2);

        // An old secret past its end, an expired token's secret, a secret of another token,
        // an unknown one: nothing.
        const ended = await addToken(app.id, member.id);
        await store.tokens.replaceSecret({
          tokenId: ended.id,
          secretHash: `${ended.secretHash}-new`,
          hint: "kw_…new2",
          now: T0 + 10,
          oldSecretsExpireAt: T0 + 15,
        });
        const expired = await addToken(app.id, member.id, { expiresAt: T0 + 5 });
        const other = await addToken(app.id, member.id);
        for (const [tokenId, hash] of [
          [ended.id, ended.secretHash],
          [expired.id, expired.secretHash],
          [ended.id, other.secretHash],
          [other.id, "c4".repeat(32)],
        ] as const) {
          expect(await report(tokenId, hash)).toBe("unchanged");
        }
        expect((await store.tokens.findSecret(`${ended.secretHash}-new`))?.revokedAt).toBeNull();
        expect((await store.tokens.findSecret(other.secretHash))?.revokedAt).toBeNull();
        for (const token of [ended, expired, other]) expect(await actions(token.id)).toEqual([]);
      });
    });

    describe("usage", () => {
      it("adds counts per day, reports them oldest first from a day, and totals them", async () => {
        const { member, app } = await appWithMember();
        const token = await addToken(app.id, member.id);
        const other = await addToken(app.id, member.id);
        await store.usage.applyUsage([
          { tokenId: token.id, day: "2030-01-14", requests: 2, lastUsedAt: T0 - 86_400_000 },
          { tokenId: token.id, day: "2030-01-15", requests: 3, lastUsedAt: T0 },
          { tokenId: other.id, day: "2030-01-15", requests: 7, lastUsedAt: T0 },
        ]);
        await store.usage.applyUsage([
          { tokenId: token.id, day: "2030-01-15", requests: 4, lastUsedAt: T0 + 1 },
        ]);
        await store.usage.applyUsage([]);
        expect(await store.usage.dailyUsage(token.id, "2030-01-01")).toEqual([
          { day: "2030-01-14", requests: 2 },
          { day: "2030-01-15", requests: 7 },
        ]);
        expect(await store.usage.dailyUsage(token.id, "2030-01-15")).toEqual([
          { day: "2030-01-15", requests: 7 },
        ]);
        expect(await store.usage.totalUsage(token.id)).toBe(9);
        expect(await store.usage.totalUsage(other.id)).toBe(7);
        expect(await store.usage.totalUsage((await addToken(app.id, member.id)).id)).toBe(0);
      });

      it("reads many tokens' usage at once: totals, days from a day, in the order asked", async () => {
        const { member, app } = await appWithMember();
        const used = await addToken(app.id, member.id);
        const other = await addToken(app.id, member.id);
        const unused = await addToken(app.id, member.id);
        await store.usage.applyUsage([
          { tokenId: used.id, day: "2030-01-10", requests: 5, lastUsedAt: T0 - 5 * 86_400_000 },
          { tokenId: used.id, day: "2030-01-14", requests: 2, lastUsedAt: T0 - 86_400_000 },
          { tokenId: used.id, day: "2030-01-15", requests: 3, lastUsedAt: T0 },
          { tokenId: other.id, day: "2030-01-15", requests: 7, lastUsedAt: T0 },
        ]);
        expect(
          await store.usage.usageOfTokens([unused.id, used.id, other.id], "2030-01-14"),
        ).toEqual([
          { tokenId: unused.id, total: 0, daily: [] },
          {
            tokenId: used.id,
            total: 10,
            daily: [
              { day: "2030-01-14", requests: 2 },
              { day: "2030-01-15", requests: 3 },
            ],
          },
          { tokenId: other.id, total: 7, daily: [{ day: "2030-01-15", requests: 7 }] },
        ]);
        expect(await store.usage.usageOfTokens([], "2030-01-14")).toEqual([]);
      });

      it("reads the usage of many tokens in a fixed number of statements", async () => {
        const { member, app } = await appWithMember();
        const tokens = [];
        for (let i = 0; i < 30; i++) tokens.push(await addToken(app.id, member.id));
        await store.usage.applyUsage(
          tokens.map((t, i) => ({
            tokenId: t.id,
            day: "2030-01-15",
            requests: i + 1,
            lastUsedAt: T0,
          })),
        );
        const reads = store.stats.reads;
        const usage = await store.usage.usageOfTokens(
          tokens.map((t) => t.id),
          "2030-01-01",
        );
        expect(store.stats.reads - reads).toBeLessThanOrEqual(2);
        expect(usage.map((u) => u.total)).toEqual(tokens.map((_, i) => i + 1));
      });

      it("moves lastUsedAt forward only", async () => {
        const { member, app } = await appWithMember();
        const token = await addToken(app.id, member.id);
        const lastUsed = async () => (await store.tokens.findToken(app.id, token.id))?.lastUsedAt;
        const apply = (lastUsedAt: number) =>
          store.usage.applyUsage([
            { tokenId: token.id, day: "2030-01-15", requests: 1, lastUsedAt },
          ]);
        await apply(T0 + 2000);
        expect(await lastUsed()).toBe(T0 + 2000);
        await apply(T0 + 1000);
        expect(await lastUsed()).toBe(T0 + 2000);
        await apply(T0 + 3000);
        expect(await lastUsed()).toBe(T0 + 3000);
        expect(await store.usage.totalUsage(token.id)).toBe(3);
      });

      it("takes the last use from the newest day, and lists it with the token", async () => {
        const { member, app } = await appWithMember();
        const token = await addToken(app.id, member.id);
        // Yesterday's count arrives after today's (a late flush): today's last use stays.
        await store.usage.applyUsage([
          { tokenId: token.id, day: "2030-01-15", requests: 1, lastUsedAt: T0 + 86_400_000 },
        ]);
        await store.usage.applyUsage([
          { tokenId: token.id, day: "2030-01-14", requests: 1, lastUsedAt: T0 + 5 },
        ]);
        expect((await store.tokens.findToken(app.id, token.id))?.lastUsedAt).toBe(T0 + 86_400_000);
        const listed = await store.tokens.listTokens(app.id, member.id);
        expect(listed.find((t) => t.id === token.id)?.lastUsedAt).toBe(T0 + 86_400_000);
      });

      it("writes one statement for a flush of many tokens, and no token row", async () => {
        const { member, app } = await appWithMember();
        const tokens = [];
        for (let i = 0; i < 5; i++) tokens.push(await addToken(app.id, member.id));
        const writes = store.stats.writes;
        await store.usage.applyUsage(
          tokens.map((t, i) => ({
            tokenId: t.id,
            day: "2030-01-15",
            requests: 1,
            lastUsedAt: T0 + i,
          })),
        );
        expect(store.stats.writes - writes).toBe(1);
        expect((await store.tokens.findToken(app.id, tokens[4]?.id ?? ""))?.lastUsedAt).toBe(
          T0 + 4,
        );
      });

      it("counts exactly when batches for the same tokens are applied concurrently", async () => {
        const { member, app } = await appWithMember();
        const tokens = [await addToken(app.id, member.id), await addToken(app.id, member.id)];
        // Batches list the tokens in opposite orders, as two processes' flushes might.
        const batches = Array.from({ length: 10 }, (_, i) => {
          const ordered = i % 2 === 0 ? tokens : [...tokens].reverse();
          return ordered.map((t) => ({
            tokenId: t.id,
            day: "2030-01-15",
            requests: i + 1,
            lastUsedAt: T0 + i,
          }));
        });
        await Promise.all(batches.map((b) => store.usage.applyUsage(b)));
        for (const t of tokens) {
          expect(await store.usage.totalUsage(t.id)).toBe(55);
          expect((await store.tokens.findToken(app.id, t.id))?.lastUsedAt).toBe(T0 + 9);
        }
      });
    });

    describe("refusals", () => {
      it("adds presentations of refused tokens and moves their last time forward only", async () => {
        const { member, app } = await appWithMember();
        const token = await addToken(app.id, member.id);
        const other = await addToken(app.id, member.id);
        await store.usage.applyRefusals([
          { tokenId: other.id, count: 1, lastAt: T0 + 5 },
          { tokenId: token.id, count: 3, lastAt: T0 + 20 },
        ]);
        await store.usage.applyRefusals([{ tokenId: token.id, count: 2, lastAt: T0 + 10 }]);
        await store.usage.applyRefusals([]);
        expect(await store.tokens.findToken(app.id, token.id)).toMatchObject({
          refusedCount: 5,
          refusedLastAt: T0 + 20,
        });
        expect(await store.tokens.findToken(app.id, other.id)).toMatchObject({
          refusedCount: 1,
          refusedLastAt: T0 + 5,
        });
      });
    });

    describe("audit", () => {
      it("records events and lists them newest first, filtered and paged by keyset", async () => {
        const { owner, member, app } = await appWithMember();
        const token = await addToken(app.id, member.id, { name: "audited" });
        const event = (createdAt: number, action: "token.created" | "token.revoked") => ({
          applicationId: app.id,
          userId: member.id,
          actorId: owner.id,
          tokenId: token.id,
          action,
          reason: action === "token.revoked" ? "admin" : null,
          detail: { name: "audited", scopes: 1, manual: true, note: null },
          ip: "192.0.2.1",
          createdAt,
        });
        await store.audit.record([event(T0, "token.created"), event(T0 + 1, "token.revoked")]);
        await store.audit.record([]);
        const all = await store.audit.list({ applicationId: app.id, limit: 10 });
        expect(all.map((e) => e.action)).toEqual(["token.revoked", "token.created"]);
        expect(all[0]).toMatchObject({
          ...event(T0 + 1, "token.revoked"),
          actorEmail: owner.email,
          tokenName: "audited",
        });
        const revoked = await store.audit.list({
          tokenId: token.id,
          action: "token.revoked",
          limit: 10,
        });
        expect(revoked).toHaveLength(1);
        const first = all[0] as { id: string; createdAt: number };
        const older = await store.audit.list({
          applicationId: app.id,
          before: { createdAt: first.createdAt, id: first.id },
          limit: 10,
        });
        expect(older.map((e) => e.action)).toEqual(["token.created"]);
        expect(await store.audit.list({ tokenOwnerId: owner.id, limit: 10 })).toEqual([]);
      });
    });

    describe("sign-in addresses", () => {
      it("tells whether a user signed in from an address, and lists their IPv6 ones newest first", async () => {
        const user = await addUser();
        const other = await addUser();
        const signin = (
          userId: string,
          ip: string,
          createdAt: number,
          action: "signin.succeeded" | "signin.failed" = "signin.succeeded",
        ) => ({
          applicationId: null,
          userId,
          actorId: userId,
          tokenId: null,
          action,
          reason: null,
          detail: {},
          ip,
          createdAt,
        });
        await store.audit.record([
          signin(user.id, "2001:db8:1:1::5", T0),
          signin(user.id, "192.0.2.8", T0 + 1),
          signin(user.id, "2001:db8:2:2::9", T0 + 2),
          signin(user.id, "2001:db8:1:1::5", T0 + 3),
          signin(user.id, "2001:db8:3:3::1", T0 - 10),
          signin(other.id, "2001:db8:4:4::1", T0 + 4),
          signin(user.id, "2001:db8:5:5::1", T0 + 5, "signin.failed"),
        ]);
        expect(await store.audit.hasSignedInFrom(user.id, "192.0.2.8", T0)).toBe(true);
        expect(await store.audit.hasSignedInFrom(user.id, "192.0.2.8", T0 + 2)).toBe(false);
        expect(await store.audit.hasSignedInFrom(user.id, "2001:db8:4:4::1", T0)).toBe(false);
        // Each address once, by its latest sign-in; none before `since`, none of another
        // user, no failed sign-in, no IPv4 address.
        expect(await store.audit.ipv6SigninAddresses(user.id, T0, 10)).toEqual([
          "2001:db8:1:1::5",
          "2001:db8:2:2::9",
        ]);
        expect(await store.audit.ipv6SigninAddresses(user.id, T0, 1)).toEqual(["2001:db8:1:1::5"]);
      });
    });

    describe("audit search and count", () => {
      it("counts the events a filter selects, over all pages", async () => {
        const { owner, member, app } = await appWithMember();
        const token = await addToken(app.id, member.id, { name: "deploy" });
        const events = Array.from({ length: 7 }, (_, i) => ({
          applicationId: app.id,
          userId: member.id,
          actorId: i % 2 === 0 ? owner.id : member.id,
          tokenId: token.id,
          action: (i === 0 ? "token.created" : "token.regenerated") as AuditAction,
          reason: null,
          detail: {},
          ip: null,
          createdAt: T0 + i,
        }));
        await store.audit.record(events);
        expect(await store.audit.count({ applicationId: app.id })).toBe(7);
        expect(await store.audit.count({ applicationId: app.id, action: "token.created" })).toBe(1);
        expect(await store.audit.count({ tokenOwnerId: owner.id })).toBe(0);
        // A page of two still reports the whole count.
        expect(await store.audit.list({ applicationId: app.id, limit: 2 })).toHaveLength(2);
      });

      it("finds events by the actor's email or the token's name, ignoring case and LIKE wildcards", async () => {
        const owner = await addUser({ email: "Ada.Lovelace@Example.com" });
        const member = await addUser({ email: "grace_hopper@example.com" });
        const app = await addApp(owner.id);
        await store.applications.insertMember({
          applicationId: app.id,
          userId: member.id,
          role: "member",
          createdAt: T0,
        });
        const deploy = await addToken(app.id, member.id, { name: "Deploy 100%" });
        const backup = await addToken(app.id, owner.id, { name: "nightly backup" });
        const event = (actorId: string | null, tokenId: string | null, createdAt: number) => ({
          applicationId: app.id,
          userId: member.id,
          actorId,
          tokenId,
          action: "token.created" as AuditAction,
          reason: null,
          detail: {},
          ip: null,
          createdAt,
        });
        await store.audit.record([
          event(owner.id, backup.id, T0),
          event(member.id, deploy.id, T0 + 1),
          event(null, deploy.id, T0 + 2),
          event(null, null, T0 + 3),
        ]);
        const search = async (text: string) => {
          const found = await store.audit.list({ applicationId: app.id, search: text, limit: 10 });
          const total = await store.audit.count({ applicationId: app.id, search: text });
          expect(total).toBe(found.length);
          return found.map((e) => e.createdAt - T0);
        };
        expect(await search("ada.LOVELACE")).toEqual([0]);
        expect(await search("DEPLOY")).toEqual([2, 1]);
        expect(await search("100%")).toEqual([2, 1]);
        // `_` and `%` are taken literally, not as wildcards.
        expect(await search("grace_")).toEqual([1]);
        expect(await search("grace%")).toEqual([]);
        expect(await search("a_a")).toEqual([]);
        expect(await search("example.com")).toEqual([1, 0]);
        expect(await search("nobody")).toEqual([]);
      });
    });

    describe("audit events written with their change", () => {
      const audited = (
        over: Partial<AuditEventInput> & { action: AuditAction },
      ): AuditEventInput => ({
        applicationId: null,
        userId: null,
        actorId: null,
        tokenId: null,
        reason: null,
        detail: {},
        ip: "192.0.2.7",
        createdAt: T0 + 100,
        ...over,
      });
      // The schema refuses a null action (NOT NULL), so the audit insert fails inside the
      // change's transaction, as a full disk or a lost connection would at that point.
      const unstorable = (over: Partial<AuditEventInput> & { action: AuditAction }) => ({
        ...audited(over),
        action: null as unknown as AuditAction,
      });
      const accountEvents = (userId: string) =>
        store.audit.list({ accountUserId: userId, limit: 50 });
      const appEvents = (applicationId: string) => store.audit.list({ applicationId, limit: 50 });
      const tokenEvents = (tokenId: string) => store.audit.list({ tokenId, limit: 50 });

      it("a new user is recorded with its event; a taken email records none", async () => {
        const user = await addUser();
        const fresh = { ...user, id: id("usr"), email: `${id("x")}@example.com` };
        const signup = audited({ userId: fresh.id, actorId: fresh.id, action: "signup" });
        expect(await store.users.insertUser(fresh, [signup])).toEqual({ ok: true });
        expect(await accountEvents(fresh.id)).toMatchObject([signup]);

        const taken = { ...fresh, id: id("usr") };
        const again = audited({ userId: taken.id, actorId: taken.id, action: "signup" });
        expect(await store.users.insertUser(taken, [again])).toEqual({
          ok: false,
          reason: "email_taken",
        });
        expect(await accountEvents(taken.id)).toEqual([]);
        expect(await accountEvents(fresh.id)).toHaveLength(1);
      });

      it("a session is recorded with its sign-in event", async () => {
        const user = await addUser();
        const signin = audited({ userId: user.id, actorId: user.id, action: "signin.succeeded" });
        const session = sessionRow({
          idHash: "s-audited",
          userId: user.id,
          createdAt: T0,
          expiresAt: T0 + 1,
        });
        await store.sessions.insertSession(session, [signin]);
        expect(await store.sessions.findSession("s-audited")).toBeDefined();
        expect(await accountEvents(user.id)).toMatchObject([signin]);
      });

      it("a member is added with its event; adding an existing member records none", async () => {
        const { owner, member, app } = await appWithMember();
        const newcomer = await addUser();
        const added = (userId: string) =>
          audited({ applicationId: app.id, userId, actorId: owner.id, action: "member.added" });
        const input = (userId: string) => ({
          applicationId: app.id,
          userId,
          role: "member" as const,
          createdAt: T0 + 5,
        });
        expect(
          await store.applications.insertMember(input(newcomer.id), [added(newcomer.id)]),
        ).toEqual({ ok: true });
        expect(await store.applications.insertMember(input(member.id), [added(member.id)])).toEqual(
          { ok: false, reason: "already_member" },
        );
        const events = await appEvents(app.id);
        expect(events).toMatchObject([added(newcomer.id)]);
      });

      it("a member removal records the events built from the tokens it revoked; a refused one records none", async () => {
        const { owner, member, app } = await appWithMember();
        const active = await addToken(app.id, member.id);
        const ownersToken = await addToken(app.id, owner.id);
        let calls = 0;
        const events = (userId: string) => (revokedTokenIds: readonly string[]) => {
          calls++;
          return [
            audited({
              applicationId: app.id,
              userId,
              actorId: owner.id,
              action: "member.removed",
              detail: { revokedTokens: revokedTokenIds.length },
            }),
            ...revokedTokenIds.map((tokenId) =>
              audited({
                applicationId: app.id,
                userId,
                actorId: owner.id,
                tokenId,
                action: "token.revoked",
                reason: "member_removed",
              }),
            ),
          ];
        };
        const remove = (userId: string) =>
          store.applications.removeMember(
            { applicationId: app.id, userId, now: T0 + 50, revokedBy: owner.id },
            events(userId),
          );
        expect(await remove(member.id)).toEqual({ removed: true, revokedTokenIds: [active.id] });
        expect(calls).toBe(1);
        const trail = await appEvents(app.id);
        expect(trail.map((e) => [e.action, e.tokenId, e.detail])).toEqual(
          expect.arrayContaining([
            ["member.removed", null, { revokedTokens: 1 }],
            ["token.revoked", active.id, {}],
          ]),
        );
        expect(trail).toHaveLength(2);

        // The owner, a former member and a stranger: nothing removed, nothing recorded.
        for (const userId of [owner.id, member.id, (await addUser()).id]) {
          expect(await remove(userId)).toEqual({ removed: false, revokedTokenIds: [] });
        }
        expect(calls).toBe(1);
        expect(await appEvents(app.id)).toHaveLength(2);
        expect(await tokenEvents(ownersToken.id)).toEqual([]);
      });

      it("a token is created with its event; name_taken, limit_reached and a non-member record none", async () => {
        const { owner, member, app } = await appWithMember();
        const created = (token: NewToken) =>
          audited({
            applicationId: app.id,
            userId: token.userId,
            actorId: token.userId,
            tokenId: token.id,
            action: "token.created",
            detail: { name: token.name },
          });
        const first = newToken(app.id, member.id, { name: "deploy" });
        const limit = { maxActivePerUser: 2, now: T0 };
        expect(await store.tokens.insertToken(first, limit, [created(first)])).toEqual({
          ok: true,
        });
        expect(await tokenEvents(first.id)).toMatchObject([created(first)]);

        const clash = newToken(app.id, member.id, { name: "deploy" });
        expect(await store.tokens.insertToken(clash, limit, [created(clash)])).toEqual({
          ok: false,
          reason: "name_taken",
        });
        await addToken(app.id, member.id);
        const over = newToken(app.id, member.id);
        expect(await store.tokens.insertToken(over, limit, [created(over)])).toEqual({
          ok: false,
          reason: "limit_reached",
        });
        const stranger = await addUser();
        const theirs = newToken(app.id, stranger.id);
        await expect(
          store.tokens.insertToken(theirs, limit, [created(theirs)]),
        ).rejects.toMatchObject({ code: "not_found" });
        expect((await appEvents(app.id)).map((e) => e.tokenId)).toEqual([first.id]);
        expect(await tokenEvents(owner.id)).toEqual([]);
      });

      it("records exactly one event when concurrent inserts race for one name", async () => {
        const { member, app } = await appWithMember();
        const tokens = Array.from({ length: 8 }, () =>
          newToken(app.id, member.id, { name: "race" }),
        );
        const results = await Promise.all(
          tokens.map((t) =>
            store.tokens.insertToken(t, rules, [
              audited({ applicationId: app.id, tokenId: t.id, action: "token.created" }),
            ]),
          ),
        );
        const winner = tokens[results.findIndex((r) => r.ok)];
        expect((await appEvents(app.id)).map((e) => e.tokenId)).toEqual([winner?.id]);
      });

      it("a revocation records its event once: an already revoked or unknown token records none", async () => {
        const { owner, member, app } = await appWithMember();
        const token = await addToken(app.id, member.id);
        const revoke = (tokenId: string, reason: "admin" | "user") =>
          store.tokens.revokeToken({ tokenId, now: T0 + 5, reason, revokedBy: owner.id }, [
            audited({ applicationId: app.id, tokenId, action: "token.revoked", reason }),
          ]);
        expect(await revoke(token.id, "admin")).toBe(true);
        expect(await revoke(token.id, "user")).toBe(false);
        expect(await revoke("tok_missing", "user")).toBe(false);
        expect((await appEvents(app.id)).map((e) => [e.tokenId, e.reason])).toEqual([
          [token.id, "admin"],
        ]);
      });

      it("records exactly one event when concurrent revocations race", async () => {
        const { member, app } = await appWithMember();
        const token = await addToken(app.id, member.id);
        const results = await Promise.all(
          Array.from({ length: 8 }, (_, i) =>
            store.tokens.revokeToken(
              { tokenId: token.id, now: T0 + i, reason: "user", revokedBy: null },
              [audited({ tokenId: token.id, action: "token.revoked", detail: { attempt: i } })],
            ),
          ),
        );
        expect(results.filter(Boolean)).toHaveLength(1);
        expect(await tokenEvents(token.id)).toHaveLength(1);
      });

      it("a secret replacement records its event; a revoked or expired token records none", async () => {
        const { member, app } = await appWithMember();
        const live = await addToken(app.id, member.id);
        const revoked = await addToken(app.id, member.id);
        const expired = await addToken(app.id, member.id, { expiresAt: T0 + 5 });
        await revokeByUser(revoked.id);
        const replace = (tokenId: string) =>
          store.tokens.replaceSecret(
            {
              tokenId,
              secretHash: `new-${tokenId}`,
              hint: "kw_…new",
              now: T0 + 10,
              oldSecretsExpireAt: T0 + 10,
            },
            [audited({ applicationId: app.id, tokenId, action: "token.regenerated" })],
          );
        expect(await replace(live.id)).toBe(true);
        expect(await replace(revoked.id)).toBe(false);
        expect(await replace(expired.id)).toBe(false);
        expect((await appEvents(app.id)).map((e) => e.tokenId)).toEqual([live.id]);
      });

      it("marking a token exposed records its event the first time only", async () => {
        const { member, app } = await appWithMember();
        const token = await addToken(app.id, member.id);
        const mark = (now: number) =>
          store.tokens.markExposed(token.id, now, [
            audited({ tokenId: token.id, action: "token.exposed", createdAt: now }),
          ]);
        expect(await mark(T0 + 1)).toBe(true);
        expect(await mark(T0 + 2)).toBe(false);
        expect((await tokenEvents(token.id)).map((e) => e.createdAt)).toEqual([T0 + 1]);
      });

      describe("a failed audit insert rolls back the change it records", () => {
        it("insertUser", async () => {
          const user = await addUser();
          const fresh = { ...user, id: id("usr"), email: `${id("x")}@example.com` };
          await expect(
            store.users.insertUser(fresh, [unstorable({ userId: fresh.id, action: "signup" })]),
          ).rejects.toThrow();
          expect(await store.users.findUserByEmail(fresh.email)).toBeUndefined();
          expect(await store.users.findUserById(fresh.id)).toBeUndefined();
        });

        it("insertSession", async () => {
          const user = await addUser();
          await expect(
            store.sessions.insertSession(
              sessionRow({ idHash: "s-lost", userId: user.id, createdAt: T0, expiresAt: T0 + 1 }),
              [unstorable({ userId: user.id, action: "signin.succeeded" })],
            ),
          ).rejects.toThrow();
          expect(await store.sessions.findSession("s-lost")).toBeUndefined();
        });

        it("insertMember", async () => {
          const { owner, app } = await appWithMember();
          const newcomer = await addUser();
          await expect(
            store.applications.insertMember(
              { applicationId: app.id, userId: newcomer.id, role: "admin", createdAt: T0 },
              [unstorable({ applicationId: app.id, actorId: owner.id, action: "member.added" })],
            ),
          ).rejects.toThrow();
          expect(await store.applications.findRole(app.id, newcomer.id)).toBeUndefined();
        });

        it("removeMember", async () => {
          const { owner, member, app } = await appWithMember();
          const token = await addToken(app.id, member.id);
          await expect(
            store.applications.removeMember(
              { applicationId: app.id, userId: member.id, now: T0 + 50, revokedBy: owner.id },
              () => [unstorable({ applicationId: app.id, action: "member.removed" })],
            ),
          ).rejects.toThrow();
          expect(await store.applications.findRole(app.id, member.id)).toBe("member");
          expect((await store.tokens.findToken(app.id, token.id))?.revokedAt).toBeNull();
        });

        it("insertToken", async () => {
          const { member, app } = await appWithMember();
          const token = newToken(app.id, member.id, { name: "lost" });
          await expect(
            store.tokens.insertToken(token, rules, [
              unstorable({ tokenId: token.id, action: "token.created" }),
            ]),
          ).rejects.toThrow();
          expect(await store.tokens.findToken(app.id, token.id)).toBeUndefined();
          expect(await store.tokens.findSecret(token.secretHash)).toBeUndefined();
          // Nothing left behind holds the name.
          expect(
            await store.tokens.insertToken(newToken(app.id, member.id, { name: "lost" }), rules),
          ).toEqual({ ok: true });
        });

        it("revokeToken", async () => {
          const { member, app } = await appWithMember();
          const token = await addToken(app.id, member.id);
          await expect(
            store.tokens.revokeToken(
              { tokenId: token.id, now: T0 + 5, reason: "user", revokedBy: member.id },
              [unstorable({ tokenId: token.id, action: "token.revoked" })],
            ),
          ).rejects.toThrow();
          expect((await store.tokens.findToken(app.id, token.id))?.revokedAt).toBeNull();
          expect((await store.tokens.findSecret(token.secretHash))?.revokedAt).toBeNull();
        });

        it("replaceSecret", async () => {
          const { member, app } = await appWithMember();
          const token = await addToken(app.id, member.id);
          await expect(
            store.tokens.replaceSecret(
              {
                tokenId: token.id,
                secretHash: "never-stored",
                hint: "kw_…lost",
                now: T0 + 10,
                oldSecretsExpireAt: T0 + 10,
              },
              [unstorable({ tokenId: token.id, action: "token.regenerated" })],
            ),
          ).rejects.toThrow();
          expect(await store.tokens.findSecret("never-stored")).toBeUndefined();
          expect((await store.tokens.findSecret(token.secretHash))?.secretExpiresAt).toBeNull();
          expect((await store.tokens.findToken(app.id, token.id))?.hint).toBe(token.hint);
        });

        it("markExposed", async () => {
          const { member, app } = await appWithMember();
          const token = await addToken(app.id, member.id);
          await expect(
            store.tokens.markExposed(token.id, T0 + 1, [
              unstorable({ tokenId: token.id, action: "token.exposed" }),
            ]),
          ).rejects.toThrow();
          expect((await store.tokens.findToken(app.id, token.id))?.exposedAt).toBeNull();
        });
      });
    });

    describe("revocation stream", () => {
      const revocations = () => store.revocations;
      /** The stream's events written after `after`, as [type, tokenId, at]. */
      const eventsAfter = async (after: number, applicationId?: string) =>
        (await revocations().listAfter(after, 1000, applicationId)).map((e) => [
          e.type,
          e.tokenId,
          e.at,
        ]);
      const revokedEvent = (applicationId: string, tokenId: string): AuditEventInput => ({
        applicationId,
        userId: null,
        actorId: null,
        tokenId,
        action: "token.revoked",
        reason: "admin",
        detail: {},
        ip: null,
        createdAt: T0 + 7,
      });
      const regenerate = (
        applicationId: string,
        tokenId: string,
        secretHash: string,
        now: number,
        graceMs: number,
      ) =>
        store.tokens.replaceSecret(
          { tokenId, secretHash, hint: "kw_…r", now, oldSecretsExpireAt: now + graceMs },
          [
            {
              ...revokedEvent(applicationId, tokenId),
              action: "token.regenerated",
              reason: null,
              detail: { graceSeconds: graceMs / 1000 },
              createdAt: now,
            },
          ],
        );

      it("a revocation appends token.revoked with its audit event, once; a refused one appends nothing", async () => {
        const { head } = await revocations().bounds();
        const { member, app } = await appWithMember();
        const token = await addToken(app.id, member.id);
        const revoke = () =>
          store.tokens.revokeToken(
            { tokenId: token.id, now: T0 + 7, reason: "admin", revokedBy: null },
            [revokedEvent(app.id, token.id)],
          );
        expect(await revoke()).toBe(true);
        expect(await revoke()).toBe(false);
        expect(await eventsAfter(head)).toEqual([["token.revoked", token.id, T0 + 7]]);
        const bounds = await revocations().bounds();
        expect(bounds.head).toBeGreaterThan(head);
        expect(bounds.floor).toBeLessThanOrEqual(bounds.head);
      });

      it("a member removal appends one token.revoked per token it revoked", async () => {
        const { owner, member, app } = await appWithMember();
        const tokens = [await addToken(app.id, member.id), await addToken(app.id, member.id)];
        const { head } = await revocations().bounds();
        await store.applications.removeMember(
          { applicationId: app.id, userId: member.id, now: T0 + 7, revokedBy: owner.id },
          (ids) => ids.map((tokenId) => revokedEvent(app.id, tokenId)),
        );
        expect((await eventsAfter(head)).map((e) => e[1]).sort()).toEqual(
          tokens.map((t) => t.id).sort(),
        );
      });

      it("lists events after an id, oldest first, of one application or all", async () => {
        const { member, app } = await appWithMember();
        const other = await appWithMember();
        const { head } = await revocations().bounds();
        const mine = [await addToken(app.id, member.id), await addToken(app.id, member.id)];
        const theirs = await addToken(other.app.id, other.member.id);
        for (const [applicationId, token] of [
          [app.id, mine[0]],
          [other.app.id, theirs],
          [app.id, mine[1]],
        ] as const) {
          await store.tokens.revokeToken(
            { tokenId: token?.id ?? "", now: T0, reason: "admin", revokedBy: null },
            [revokedEvent(applicationId, token?.id ?? "")],
          );
        }
        const all = await revocations().listAfter(head, 100);
        expect(all.map((e) => e.tokenId)).toEqual([mine[0]?.id, theirs.id, mine[1]?.id]);
        const seqs = all.map((e) => e.seq);
        expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
        expect(new Set(seqs).size).toBe(3);
        expect((await revocations().listAfter(head, 100, app.id)).map((e) => e.tokenId)).toEqual(
          mine.map((t) => t.id),
        );
        expect(
          (await revocations().listAfter(seqs[0] ?? 0, 100, app.id)).map((e) => e.tokenId),
        ).toEqual([mine[1]?.id]);
        expect(await revocations().listAfter(head, 1)).toHaveLength(1);
        expect(await revocations().listAfter(seqs[2] ?? 0, 100)).toEqual([]);
      });

      it("a regeneration without grace ends the old secret at once; with grace, when announced", async () => {
        const { member, app } = await appWithMember();
        const now = await addToken(app.id, member.id);
        const later = await addToken(app.id, member.id);
        const { head } = await revocations().bounds();
        expect(await regenerate(app.id, now.id, "now-2", T0 + 10, 0)).toBe(true);
        expect(await regenerate(app.id, later.id, "later-2", T0 + 10, 60_000)).toBe(true);
        expect(await eventsAfter(head)).toEqual([["secret.ended", now.id, T0 + 10]]);

        expect(await revocations().nextSecretEnd()).toBe(T0 + 60_010);
        expect(await revocations().announceEndedSecrets(T0 + 60_009)).toEqual([]);
        expect(await revocations().announceEndedSecrets(T0 + 60_010)).toEqual([later.id]);
        // Announced once: the next sweep finds nothing, and nothing is pending.
        expect(await revocations().announceEndedSecrets(T0 + 90_000)).toEqual([]);
        expect(await revocations().nextSecretEnd()).toBeUndefined();
        expect(await eventsAfter(head, app.id)).toEqual([
          ["secret.ended", now.id, T0 + 10],
          ["secret.ended", later.id, T0 + 60_010],
        ]);
        // The old secret is still refused as ended, not forgotten.
        expect((await store.tokens.findSecret(later.secretHash))?.secretExpiresAt).toBe(
          T0 + 60_010,
        );
      });

      it("announces an old secret exactly once when every process sweeps at the same time", async () => {
        const { member, app } = await appWithMember();
        const tokens = [await addToken(app.id, member.id), await addToken(app.id, member.id)];
        for (const [i, t] of tokens.entries()) {
          expect(await regenerate(app.id, t.id, `swept-${i}`, T0 + 10, 1000)).toBe(true);
        }
        const { head } = await revocations().bounds();
        const sweeps = await Promise.all(
          Array.from({ length: 6 }, () => revocations().announceEndedSecrets(T0 + 5000)),
        );
        expect(sweeps.flat().sort()).toEqual(tokens.map((t) => t.id).sort());
        expect(await eventsAfter(head)).toHaveLength(2);
      });

      it("a regeneration that deletes an ended, unannounced old secret announces it", async () => {
        const { member, app } = await appWithMember();
        const token = await addToken(app.id, member.id);
        expect(await regenerate(app.id, token.id, "second", T0 + 10, 1000)).toBe(true);
        const { head } = await revocations().bounds();
        // The grace ended at T0 + 1010; no sweep ran before the next regeneration.
        expect(await regenerate(app.id, token.id, "third", T0 + 2000, 1000)).toBe(true);
        expect(await eventsAfter(head)).toEqual([["secret.ended", token.id, T0 + 1010]]);
        expect(await revocations().announceEndedSecrets(T0 + 2500)).toEqual([]);
        expect(await revocations().announceEndedSecrets(T0 + 3000)).toEqual([token.id]);
      });

      it("writes no event when the change's audit insert fails", async () => {
        const { member, app } = await appWithMember();
        const token = await addToken(app.id, member.id);
        const { head } = await revocations().bounds();
        await expect(
          store.tokens.revokeToken(
            { tokenId: token.id, now: T0 + 5, reason: "user", revokedBy: member.id },
            [
              revokedEvent(app.id, token.id),
              { ...revokedEvent(app.id, token.id), action: null as unknown as AuditAction },
            ],
          ),
        ).rejects.toThrow();
        expect(await eventsAfter(head)).toEqual([]);
      });

      it("prunes old events but keeps the newest of them as the floor", async () => {
        const { member, app } = await appWithMember();
        const tokens = [];
        for (let i = 0; i < 4; i++) tokens.push(await addToken(app.id, member.id));
        const { head } = await revocations().bounds();
        for (const [i, t] of tokens.entries()) {
          await store.tokens.revokeToken(
            { tokenId: t.id, now: T0, reason: "admin", revokedBy: null },
            [{ ...revokedEvent(app.id, t.id), createdAt: T0 + i * 1000 }],
          );
        }
        const seqs = (await revocations().listAfter(head, 10)).map((e) => e.seq);
        // Events at T0 and T0 + 1000 are older than T0 + 1500; the second stays as the floor.
        expect(await revocations().prune(T0 + 1500)).toBeGreaterThanOrEqual(1);
        const bounds = await revocations().bounds();
        expect(bounds).toEqual({ floor: seqs[1], head: seqs[3] });
        expect((await revocations().listAfter(bounds.floor, 10)).map((e) => e.tokenId)).toEqual([
          tokens[2]?.id,
          tokens[3]?.id,
        ]);
        expect(await revocations().prune(T0 + 1500)).toBe(0);
      });
    });

    describe("host integration", () => {
      function newKey(applicationId: string, over: Record<string, unknown> = {}) {
        const keyId = id("key");
        return {
          id: keyId,
          applicationId,
          name: `key ${keyId}`,
          hint: "kwsk_…abcd",
          createdAt: T0,
          secretHash: `key-secret-${keyId}`,
          createdBy: "usr_x",
          ...over,
        };
      }

      function upsert(applicationId: string, externalId: string, over = {}) {
        return store.hostUsers.upsertHostUser({
          id: id("usr"),
          applicationId,
          externalId,
          now: T0,
          ...over,
        });
      }

      it("keeps service keys as hashes, lists them newest first and revokes once", async () => {
        const app = await addApp((await addUser()).id);
        const older = newKey(app.id);
        const newer = newKey(app.id, { createdAt: T0 + 1 });
        await store.serviceKeys.insertServiceKey(older);
        await store.serviceKeys.insertServiceKey(newer);
        const listed = await store.serviceKeys.listServiceKeys(app.id);
        expect(listed.map((k) => k.id)).toEqual([newer.id, older.id]);
        expect(JSON.stringify(listed)).not.toContain("key-secret");
        expect(await store.serviceKeys.findServiceKeyBySecret(older.secretHash)).toMatchObject({
          id: older.id,
          applicationId: app.id,
          applicationName: app.name,
          revokedAt: null,
        });
        expect(await store.serviceKeys.findServiceKey("app_other", older.id)).toBeUndefined();
        const revoke = { keyId: older.id, now: T0 + 5, revokedBy: null };
        expect(await store.serviceKeys.revokeServiceKey(revoke)).toBe(true);
        expect(await store.serviceKeys.revokeServiceKey({ ...revoke, now: T0 + 9 })).toBe(false);
        expect((await store.serviceKeys.findServiceKey(app.id, older.id))?.revokedAt).toBe(T0 + 5);
        // The lookup every service call runs (each dialect prepares it once) reads the
        // revocation at once, and knows nothing of an unknown secret.
        expect(await store.serviceKeys.findServiceKeyBySecret(older.secretHash)).toEqual({
          id: older.id,
          applicationId: app.id,
          applicationName: app.name,
          name: older.name,
          hint: older.hint,
          createdAt: older.createdAt,
          lastUsedAt: null,
          revokedAt: T0 + 5,
        });
        expect(await store.serviceKeys.findServiceKeyBySecret("f".repeat(64))).toBeUndefined();
      });

      it("moves a service key's last use forward, never back", async () => {
        const app = await addApp((await addUser()).id);
        const key = newKey(app.id);
        await store.serviceKeys.insertServiceKey(key);
        await store.serviceKeys.recordServiceKeyUse([{ keyId: key.id, at: T0 + 100 }]);
        await store.serviceKeys.recordServiceKeyUse([{ keyId: key.id, at: T0 + 50 }]);
        expect((await store.serviceKeys.findServiceKey(app.id, key.id))?.lastUsedAt).toBe(T0 + 100);
      });

      it("creates a host user as a member once, then updates only what is given", async () => {
        const app = await addApp((await addUser()).id);
        const created = await upsert(app.id, "user-42", { email: "h@example.com", name: "H" });
        expect(created.created).toBe(true);
        expect(await store.applications.findRole(app.id, created.user.id)).toBe("member");
        const updated = await upsert(app.id, "user-42", { name: "Renamed" });
        expect(updated).toEqual({
          created: false,
          user: { ...created.user, name: "Renamed" },
        });
        const cleared = await upsert(app.id, "user-42", { email: null });
        expect(cleared.user.email).toBeNull();
        expect(await store.hostUsers.findHostUserById(created.user.id)).toEqual(cleared.user);
        // The team's member list is for accounts; host users are the host's to manage.
        expect((await store.applications.listMembers(app.id)).map((m) => m.userId)).not.toContain(
          created.user.id,
        );
      });

      it("makes one user of racing upserts of one id", async () => {
        const app = await addApp((await addUser()).id);
        const results = await Promise.all(
          Array.from({ length: 6 }, (_, i) => upsert(app.id, "racer", { name: `n${i}` })),
        );
        expect(results.filter((r) => r.created)).toHaveLength(1);
        expect(new Set(results.map((r) => r.user.id)).size).toBe(1);
      });

      it("keeps host users apart from accounts and from other applications", async () => {
        const account = await addUser({ email: "same@example.com" });
        const appA = await addApp(account.id);
        const appB = await addApp(account.id);
        const inA = await upsert(appA.id, "shared-id", { email: "same@example.com" });
        const inB = await upsert(appB.id, "shared-id", { email: "same@example.com" });
        expect(inA.user.id).not.toBe(inB.user.id);
        expect(inA.user.id).not.toBe(account.id);
        // Sign-in finds the account, never a host user with its email.
        expect((await store.users.findUserByEmail("same@example.com"))?.id).toBe(account.id);
        expect(await store.hostUsers.findHostUser(appA.id, "shared-id")).toEqual(inA.user);
        expect(await store.hostUsers.findHostUserById(account.id)).toBeUndefined();
        // An account may still sign up with an email a host user carries.
        expect(
          await store.users.insertUser({
            id: id("usr"),
            email: "other@example.com",
            name: "O",
            passwordHash: "x",
            createdAt: T0,
          }),
        ).toEqual({ ok: true });
        await upsert(appA.id, "carrier", { email: "new@example.com" });
        expect(
          await store.users.insertUser({
            id: id("usr"),
            email: "new@example.com",
            name: "N",
            passwordHash: "x",
            createdAt: T0,
          }),
        ).toEqual({ ok: true });
      });

      it("removes a host user with all their tokens in one transaction and frees the id", async () => {
        const app = await addApp((await addUser()).id);
        const { user } = await upsert(app.id, "leaver");
        const first = await addToken(app.id, user.id);
        const second = await addToken(app.id, user.id);
        await store.sessions.insertSession(
          sessionRow({
            idHash: "host-session",
            userId: user.id,
            createdAt: T0,
            expiresAt: T0 + 1000,
            applicationId: app.id,
            returnUrl: null,
          }),
        );
        const result = await store.hostUsers.removeHostUser(
          { applicationId: app.id, externalId: "leaver", now: T0 + 7, revokedBy: "key_x" },
          (removed, revoked) => [
            {
              applicationId: app.id,
              userId: removed.id,
              actorId: "key_x",
              tokenId: null,
              action: "host_user.removed",
              reason: null,
              detail: { revoked: revoked.length },
              ip: null,
              createdAt: T0 + 7,
            },
          ],
        );
        expect(result.removed).toBe(true);
        expect([...result.revokedTokenIds].sort()).toEqual([first.id, second.id].sort());
        expect((await store.tokens.findSecret(first.secretHash))?.revokedAt).toBe(T0 + 7);
        expect(await store.sessions.findSession("host-session")).toBeUndefined();
        expect(await store.applications.findRole(app.id, user.id)).toBeUndefined();
        expect(await store.hostUsers.findHostUser(app.id, "leaver")).toBeUndefined();
        const events = await store.audit.list({ applicationId: app.id, limit: 10 });
        expect(events.map((e) => e.action)).toContain("host_user.removed");
        expect(
          await store.hostUsers.removeHostUser({
            applicationId: app.id,
            externalId: "leaver",
            now: T0 + 8,
            revokedBy: null,
          }),
        ).toEqual({ removed: false, revokedTokenIds: [] });
        const again = await upsert(app.id, "leaver");
        expect(again.created).toBe(true);
        expect(again.user.id).not.toBe(user.id);
        expect(await store.tokens.listTokens(app.id, again.user.id)).toEqual([]);
      });

      it("names the host user's id on the hot path", async () => {
        const app = await addApp((await addUser()).id);
        const { user } = await upsert(app.id, "ext-7");
        const token = await addToken(app.id, user.id);
        expect((await store.tokens.findSecret(token.secretHash))?.externalId).toBe("ext-7");
      });

      it("redeems a portal code once, even when two redemptions race, and never late", async () => {
        const app = await addApp((await addUser()).id);
        const { user } = await upsert(app.id, "portal-user");
        const code = {
          codeHash: "code-1",
          applicationId: app.id,
          userId: user.id,
          returnUrl: "https://host.example/settings",
          createdAt: T0,
          expiresAt: T0 + 300_000,
          serviceKeyId: null,
        };
        await store.portal.insertPortalCode(code);
        const racing = await Promise.all([
          store.portal.redeemPortalCode("code-1", T0 + 1),
          store.portal.redeemPortalCode("code-1", T0 + 1),
        ]);
        expect(racing.filter((r) => r !== undefined)).toEqual([code]);
        expect(await store.portal.redeemPortalCode("code-1", T0 + 2)).toBeUndefined();
        await store.portal.insertPortalCode({ ...code, codeHash: "code-2" });
        expect(await store.portal.redeemPortalCode("code-2", T0 + 300_000)).toBeUndefined();
        expect(await store.portal.redeemPortalCode("unknown", T0)).toBeUndefined();
        expect(await store.portal.deleteExpiredPortalCodes(T0 + 300_000)).toBe(2);
      });

      it("does not redeem a portal code whose service key was revoked since", async () => {
        const app = await addApp((await addUser()).id);
        const { user } = await upsert(app.id, "portal-user-2");
        const [kept, revoked] = [newKey(app.id), newKey(app.id)];
        await store.serviceKeys.insertServiceKey(kept);
        await store.serviceKeys.insertServiceKey(revoked);
        const code = (codeHash: string, serviceKeyId: string) => ({
          codeHash,
          applicationId: app.id,
          userId: user.id,
          returnUrl: null,
          createdAt: T0,
          expiresAt: T0 + 300_000,
          serviceKeyId,
        });
        await store.portal.insertPortalCode(code("by-kept", kept.id));
        await store.portal.insertPortalCode(code("by-revoked", revoked.id));
        expect(
          await store.serviceKeys.revokeServiceKey({
            keyId: revoked.id,
            now: T0 + 1,
            revokedBy: null,
          }),
        ).toBe(true);
        expect(await store.portal.redeemPortalCode("by-revoked", T0 + 2)).toBeUndefined();
        expect(await store.portal.redeemPortalCode("by-kept", T0 + 2)).toEqual(
          code("by-kept", kept.id),
        );
        // A key that is not there at all vouches for nothing either.
        await store.portal.insertPortalCode(code("by-nobody", "key_00000000000000000000"));
        expect(await store.portal.redeemPortalCode("by-nobody", T0 + 2)).toBeUndefined();
      });

      it("ends the portal sessions a service key's links opened when the key is revoked, and no other", async () => {
        const owner = await addUser();
        const app = await addApp(owner.id);
        const { user } = await upsert(app.id, "portal-user-3");
        const [leaked, kept] = [newKey(app.id), newKey(app.id)];
        await store.serviceKeys.insertServiceKey(leaked);
        await store.serviceKeys.insertServiceKey(kept);
        const session = (idHash: string, userId: string, serviceKeyId: string | null) =>
          sessionRow({
            idHash,
            userId,
            createdAt: T0,
            expiresAt: T0 + 3_600_000,
            applicationId: serviceKeyId === null ? null : app.id,
            serviceKeyId,
          });
        await store.sessions.insertSession(session("by-leaked", user.id, leaked.id));
        await store.sessions.insertSession(session("by-kept", user.id, kept.id));
        await store.sessions.insertSession(session("account", owner.id, null));
        expect(
          await store.serviceKeys.revokeServiceKey({
            keyId: leaked.id,
            now: T0 + 1,
            revokedBy: null,
          }),
        ).toBe(true);
        expect(await store.sessions.findSession("by-leaked")).toBeUndefined();
        expect(await store.sessions.findSession("by-kept")).toBeDefined();
        expect(await store.sessions.findSession("account")).toBeDefined();
        // A link redeemed just before the revocation, whose session is written just after
        // it (the revocation's delete did not see it): found as gone all the same.
        await store.sessions.insertSession(session("raced", user.id, leaked.id));
        expect(await store.sessions.findSession("raced")).toBeUndefined();
      });

      it("keeps an application's return origins and branding", async () => {
        const app = await addApp((await addUser()).id);
        const branding = { displayName: "Acme", accentColor: "#112233" };
        expect(
          await store.applications.updateApplicationSettings(app.id, {
            returnOrigins: ["https://acme.example"],
            branding,
          }),
        ).toBe(true);
        expect(await store.applications.findApplication(app.id)).toMatchObject({
          returnOrigins: ["https://acme.example"],
          branding,
        });
        await store.applications.updateApplicationSettings(app.id, { branding: null });
        expect(await store.applications.findApplication(app.id)).toMatchObject({
          returnOrigins: ["https://acme.example"],
          branding: null,
        });
        expect(await store.applications.updateApplicationSettings("app_none", {})).toBe(false);
      });
    });

    describe("operator", () => {
      it("disabling a user ends their sessions, hides their tokens from the hot lookup and records its event once", async () => {
        const { member, app } = await appWithMember();
        const token = await addToken(app.id, member.id);
        await store.sessions.insertSession(
          sessionRow({
            idHash: "session-hash",
            userId: member.id,
            createdAt: T0,
            expiresAt: T0 + 3_600_000,
          }),
        );
        const event = {
          applicationId: null,
          userId: member.id,
          actorId: null,
          tokenId: null,
          action: "user.disabled" as const,
          reason: null,
          detail: { operator: "alice" },
          ip: null,
          createdAt: T0,
        };
        expect(
          await store.operator.setUserDisabled({ userId: member.id, disabledAt: T0 }, [event]),
        ).toEqual({ changed: true, endedSessions: 1 });
        expect(
          await store.operator.setUserDisabled({ userId: member.id, disabledAt: T0 }, [event]),
        ).toEqual({ changed: false, endedSessions: 0 });
        expect(await store.tokens.findSecret(token.secretHash)).toBeUndefined();
        expect(await store.sessions.findSession("session-hash")).toBeUndefined();
        expect((await store.users.findUserByEmail(member.email))?.disabledAt).toBe(T0);
        const events = await store.audit.list({ action: "user.disabled", limit: 10 });
        expect(events).toHaveLength(1);
        expect(events[0]?.actorName).toBe("operator alice");

        await store.operator.setUserDisabled({ userId: member.id, disabledAt: null });
        expect((await store.tokens.findSecret(token.secretHash))?.tokenId).toBe(token.id);
        expect((await store.operator.findUser(member.email, T0))?.activeTokens).toBe(1);
      });

      it("lists tokens across applications by user, application and activity", async () => {
        const { owner, member, app } = await appWithMember();
        const other = await addApp(member.id);
        const a = await addToken(app.id, member.id);
        const b = await addToken(other.id, member.id);
        await addToken(app.id, owner.id);
        await revokeByUser(a.id);
        const mine = await store.operator.listTokens({ userId: member.id });
        expect(mine.map((t) => t.id).sort()).toEqual([a.id, b.id].sort());
        const active = await store.operator.listTokens({ userId: member.id, activeAt: T0 });
        expect(active.map((t) => [t.id, t.applicationName])).toEqual([[b.id, other.name]]);
        expect((await store.operator.listTokens({ applicationId: app.id })).length).toBe(2);
        const apps = await store.operator.listApplications(T0);
        expect(apps.find((x) => x.id === app.id)).toMatchObject({ members: 2, activeTokens: 1 });
      });

      it("pages the audit trail oldest first from a time, without gaps or repeats", async () => {
        const owner = await addUser();
        const events = Array.from({ length: 7 }, (_, i) => ({
          applicationId: null,
          userId: owner.id,
          actorId: null,
          tokenId: null,
          action: "signin.failed" as const,
          reason: null,
          detail: { n: i },
          ip: null,
          // Several events share a time: the id breaks the tie.
          createdAt: T0 + Math.floor(i / 3),
        }));
        await store.audit.record(events);
        const seen: number[] = [];
        let after: { createdAt: number; id: string } | undefined;
        for (;;) {
          const page = await store.operator.auditPage({ since: T0 + 1, after, limit: 2 });
          seen.push(...page.map((e) => Number(e.detail.n)));
          const last = page.at(-1);
          if (page.length < 2 || last === undefined) break;
          after = { createdAt: last.createdAt, id: last.id };
        }
        expect(seen.sort()).toEqual([3, 4, 5, 6]);
      });
    });

    describe("webhooks and policies", () => {
      async function appWithWebhook() {
        const owner = await addUser();
        const app = await addApp(owner.id);
        const webhookId = id("whk");
        await store.webhooks.insertWebhook({
          id: webhookId,
          applicationId: app.id,
          url: "https://hooks.example.com/x",
          events: ["token.created", "token.revoked"],
          createdAt: T0,
          secret: "whsec_AAAA",
          createdBy: owner.id,
        });
        return { owner, app, webhookId };
      }

      it("a token change queues a delivery in its transaction; two claims never share one", async () => {
        const { owner, app, webhookId } = await appWithWebhook();
        for (let i = 0; i < 6; i++) {
          await store.tokens.insertToken(newToken(app.id, owner.id, { name: `t${i}` }), rules, [
            {
              applicationId: app.id,
              userId: owner.id,
              actorId: owner.id,
              tokenId: null,
              action: "token.created",
              reason: null,
              detail: { name: `t${i}`, scopes: "", expiresAt: null },
              ip: null,
              createdAt: T0,
            },
          ]);
        }
        const queued = await store.webhooks.listDeliveries(webhookId, 50);
        expect(queued).toHaveLength(6);
        expect(queued.every((d) => d.status === "pending" && d.eventType === "token.created")).toBe(
          true,
        );
        const [a, b] = await Promise.all([
          store.webhooks.claimDue(T0, 4, T0 + 15_000),
          store.webhooks.claimDue(T0, 4, T0 + 15_000),
        ]);
        const ids = [...a, ...b].map((d) => d.id);
        expect(new Set(ids).size).toBe(ids.length);
        expect(ids.length).toBe(6);
        // Held: nothing more to claim until the claims lapse.
        expect(await store.webhooks.claimDue(T0 + 1000, 10, T0 + 16_000)).toEqual([]);
        expect((await store.webhooks.claimDue(T0 + 15_000, 10, T0 + 30_000)).length).toBe(6);
        const first = a[0];
        if (!first) throw new Error("nothing claimed");
        expect(first.attempts).toBe(1);
        // The first claim ran out and the delivery was taken again: its late answer is not
        // recorded over the second claim.
        await store.webhooks.recordAttempt({
          deliveryId: first.id,
          lockedUntil: T0 + 15_000,
          now: T0 + 15_001,
          status: "failed",
          nextAttemptAt: T0 + 15_001,
          lastStatus: 500,
          lastError: "status 500",
        });
        expect(
          (await store.webhooks.listDeliveries(webhookId, 50)).find((d) => d.id === first.id),
        ).toMatchObject({ status: "pending", lastStatus: null });
        await store.webhooks.recordAttempt({
          deliveryId: first.id,
          lockedUntil: T0 + 30_000,
          now: T0 + 15_001,
          status: "succeeded",
          nextAttemptAt: T0 + 15_001,
          lastStatus: 200,
          lastError: null,
        });
        const done = (await store.webhooks.listDeliveries(webhookId, 50)).find(
          (d) => d.id === first.id,
        );
        expect(done).toMatchObject({ status: "succeeded", attempts: 2, lastStatus: 200 });
      });

      it("a redelivery asked for while an attempt is in flight is kept: the attempt's outcome does not overwrite it", async () => {
        const { owner, app, webhookId } = await appWithWebhook();
        await store.tokens.insertToken(newToken(app.id, owner.id, { name: "in flight" }), rules, [
          {
            applicationId: app.id,
            userId: owner.id,
            actorId: owner.id,
            tokenId: null,
            action: "token.created",
            reason: null,
            detail: { name: "in flight", scopes: "", expiresAt: null },
            ip: null,
            createdAt: T0,
          },
        ]);
        const [claimed] = await store.webhooks.claimDue(T0, 10, T0 + 15_000);
        if (!claimed) throw new Error("nothing claimed");
        expect(
          await store.webhooks.redeliver({ webhookId, deliveryId: claimed.id, now: T0 + 100 }),
        ).toBe(true);
        await store.webhooks.recordAttempt({
          deliveryId: claimed.id,
          lockedUntil: T0 + 15_000,
          now: T0 + 200,
          status: "succeeded",
          nextAttemptAt: T0 + 200,
          lastStatus: 200,
          lastError: null,
        });
        const [again] = await store.webhooks.claimDue(T0 + 300, 10, T0 + 15_300);
        expect(again).toMatchObject({ id: claimed.id, payload: claimed.payload, attempts: 2 });
      });

      it("a lease is held by one holder at a time, until it runs out", async () => {
        const lease = { name: "job", now: T0, until: T0 + 1000 };
        const [one, two] = await Promise.all([
          store.policies.acquireLease({ ...lease, holder: "a" }),
          store.policies.acquireLease({ ...lease, holder: "b" }),
        ]);
        expect([one, two].filter(Boolean)).toHaveLength(1);
        const holder = one ? "a" : "b";
        const other = one ? "b" : "a";
        expect(await store.policies.acquireLease({ ...lease, holder })).toBe(true);
        expect(await store.policies.acquireLease({ ...lease, holder: other })).toBe(false);
        expect(
          await store.policies.acquireLease({
            name: "job",
            holder: other,
            now: T0 + 1000,
            until: T0 + 2000,
          }),
        ).toBe(true);
      });

      it("lists tokens unused past the policy, never-used ones from their creation", async () => {
        const owner = await addUser();
        const app = await addApp(owner.id);
        await store.applications.updateApplicationSettings(app.id, {
          policy: { maxLifetimeDays: null, revokeUnusedAfterDays: 10 },
        });
        const token = await addToken(app.id, owner.id);
        const day = 86_400_000;
        expect(await store.policies.listUnusedTokens(T0 + 10 * day - 1, 100)).toEqual([]);
        const [unused] = await store.policies.listUnusedTokens(T0 + 10 * day, 100);
        expect(unused).toMatchObject({ id: token.id, lastUsedAt: null, revokeUnusedAfterDays: 10 });
        await store.usage.applyUsage([
          { tokenId: token.id, day: "2030-01-20", requests: 1, lastUsedAt: T0 + 5 * day },
        ]);
        expect(await store.policies.listUnusedTokens(T0 + 10 * day, 100)).toEqual([]);
        expect(
          (await store.policies.listUnusedTokens(T0 + 15 * day, 100)).map((t) => t.id),
        ).toEqual([token.id]);
      });
    });

    describe("email", () => {
      const mail = (recipient: string) => ({
        kind: "token_notice" as const,
        recipient,
        data: { tokenName: "ci", event: "created" },
      });

      it("an empty queue costs a read, no write; two claims never share an email; a sent one's data is emptied", async () => {
        const writes = store.stats.writes;
        expect(await store.mail.claimDue(T0, 8, T0 + 120_000)).toEqual([]);
        expect(store.stats.writes).toBe(writes);
        for (let i = 0; i < 6; i++) await store.mail.enqueue(mail(`u${i}@example.com`), T0);
        const [a, b] = await Promise.all([
          store.mail.claimDue(T0, 4, T0 + 120_000),
          store.mail.claimDue(T0, 4, T0 + 120_000),
        ]);
        const ids = [...a, ...b].map((m) => m.id);
        expect(new Set(ids).size).toBe(6);
        expect(await store.mail.claimDue(T0 + 1000, 8, T0 + 121_000)).toEqual([]);
        const first = a[0];
        if (!first) throw new Error("nothing claimed");
        expect(first).toMatchObject({
          kind: "token_notice",
          attempts: 1,
          data: { tokenName: "ci" },
        });
        await store.mail.recordAttempt({
          id: first.id,
          lockedUntil: T0 + 120_000,
          now: T0 + 1,
          status: "pending",
          nextAttemptAt: T0 + 60_000,
          error: "ECONNREFUSED",
        });
        expect(await store.mail.claimDue(T0 + 2, 8, T0 + 120_000)).toEqual([]);
        const [again] = await store.mail.claimDue(T0 + 60_000, 1, T0 + 180_000);
        expect(again).toMatchObject({ id: first.id, attempts: 2 });
        // A late answer from an earlier claim is not recorded over this one.
        await store.mail.recordAttempt({
          id: first.id,
          lockedUntil: T0 + 120_000,
          now: T0 + 60_001,
          status: "failed",
          nextAttemptAt: T0 + 60_001,
          error: "late",
        });
        expect(await store.mail.claimDue(T0 + 60_002, 8, T0 + 180_002)).toEqual([]);
        await store.mail.recordAttempt({
          id: first.id,
          lockedUntil: T0 + 180_000,
          now: T0 + 60_001,
          status: "sent",
          nextAttemptAt: T0 + 60_001,
          error: null,
        });
        // Sent: never claimed again, even once every claim has lapsed.
        const later = await store.mail.claimDue(T0 + 1_000_000, 10, T0 + 1_100_000);
        expect(later.map((m) => m.id)).not.toContain(first.id);
        expect(later).toHaveLength(5);
        expect(await store.mail.prune(T0 + 1)).toBe(1);
      });

      it("a reset code works once before its expiry: sets the password and ends every session", async () => {
        const user = await addUser();
        for (const n of [1, 2]) {
          await store.sessions.insertSession({
            idHash: `session-${user.id}-${n}`,
            userId: user.id,
            createdAt: T0,
            expiresAt: T0 + 86_400_000,
            id: id("ses"),
            lastSeenAt: T0,
            userAgent: null,
            address: null,
            reauthenticatedAt: T0,
          });
        }
        const code = (hash: string, purpose: "password_reset" | "email_confirmation") => ({
          hash,
          userId: user.id,
          purpose,
          createdAt: T0,
          expiresAt: T0 + 1_800_000,
        });
        await store.mail.insertAccountCode(code(`reset-${user.id}`, "password_reset"), null, T0);
        await store.mail.insertAccountCode(code(`late-${user.id}`, "password_reset"), null, T0);
        const reset = (hash: string, now: number) =>
          store.mail.resetPassword({ hash, now, passwordHash: "new-hash" }, () => []);
        expect(await reset(`late-${user.id}`, T0 + 1_800_000)).toBeUndefined();
        const [one, two] = await Promise.all([
          reset(`reset-${user.id}`, T0 + 1000),
          reset(`reset-${user.id}`, T0 + 1000),
        ]);
        expect([one, two].filter(Boolean)).toEqual([{ userId: user.id, endedSessions: 2 }]);
        expect(await store.users.findPasswordHash(user.id)).toBe("new-hash");
        expect(await store.sessions.listSessions(user.id)).toEqual([]);
        // The other link of the account died with it.
        expect(await reset(`late-${user.id}`, T0 + 2000)).toBeUndefined();

        expect(await store.mail.emailConfirmedAt(user.id)).toBeNull();
        await store.mail.insertAccountCode(
          code(`confirm-${user.id}`, "email_confirmation"),
          null,
          T0,
        );
        // A confirmation code does not reset a password, nor the other way round.
        expect(await reset(`confirm-${user.id}`, T0 + 1000)).toBeUndefined();
        expect(await store.mail.confirmEmail(`confirm-${user.id}`, T0 + 1000, () => [])).toEqual({
          userId: user.id,
        });
        expect(
          await store.mail.confirmEmail(`confirm-${user.id}`, T0 + 1000, () => []),
        ).toBeUndefined();
        expect(await store.mail.emailConfirmedAt(user.id)).toBe(T0 + 1000);
      });

      it("queues one expiry reminder per token, whatever the number of racing sweeps", async () => {
        const owner = await addUser();
        const app = await addApp(owner.id);
        const day = 86_400_000;
        await addToken(app.id, owner.id, { expiresAt: T0 + 3 * day });
        await addToken(app.id, owner.id, { expiresAt: T0 + 30 * day });
        const counts = await Promise.all(
          [1, 2, 3].map(() => store.mail.queueExpiryReminders(T0, T0 + 7 * day, 100)),
        );
        expect(counts.reduce((a, b) => a + b, 0)).toBe(1);
        const claimed = await store.mail.claimDue(T0, 10, T0 + 1000);
        expect(claimed).toHaveLength(1);
        expect(claimed[0]).toMatchObject({ kind: "token_expiring", recipient: owner.email });
        expect(JSON.stringify(claimed[0]?.data)).not.toContain("secret-");
      });
    });

    describe("health", () => {
      it("answers ping while open, and fails with StorageUnavailableError once closed", async () => {
        await expect(store.ping()).resolves.toBeUndefined();
        await store.close();
        closed = true;
        await expect(store.ping()).rejects.toBeInstanceOf(StorageUnavailableError);
        await expect(store.tokens.findSecret("x")).rejects.toBeInstanceOf(StorageUnavailableError);
      });
    });
  });
}
