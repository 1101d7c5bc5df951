import type { Command } from "commander";
import { EXIT_CODES } from "../core/errors.js";
import { linkWithCode } from "../core/mail.js";
import { tokenStatus } from "../core/model.js";
import {
  disableTwoFactor,
  disableUser,
  enableUser,
  issueResetLink,
  listApplications,
  listServiceKeys,
  listTokens,
  listUsers,
  type OperatorSession,
  type OperatorToken,
  resetPassword,
  revokeServiceKey,
  revokeTokens,
  showApplication,
  showUser,
} from "../operator.js";
import { jsonRecord, type Output, shortTime, table } from "./output.js";

/** Runs an action with an open operator session; returns its exit code. */
export type WithSession = (
  options: { json?: boolean },
  action: (session: OperatorSession, output: Output) => Promise<number | undefined>,
) => Promise<void>;

const JSON_HELP = "print JSON (for scripts) instead of a table";

function statusOf(record: { expiresAt: number | null; revokedAt: number | null }): string {
  return tokenStatus(record, Date.now());
}

function tokenRows(tokens: readonly OperatorToken[]) {
  return tokens.map((t) => [
    t.id,
    statusOf(t),
    t.applicationName,
    t.ownerEmail,
    t.hint,
    shortTime(t.lastUsedAt),
    t.name,
  ]);
}
const TOKEN_HEADERS = ["ID", "STATUS", "APPLICATION", "OWNER", "HINT", "LAST USED", "NAME"];

export function addAdminCommands(program: Command, withSession: WithSession): void {
  // ---- users -------------------------------------------------------------------------
  const users = program
    .command("users")
    .description("list, inspect, disable and enable users, and reset their passwords");

  users
    .command("list")
    .description("list accounts and host users, oldest first")
    .option("--search <text>", "only users whose email or name contains this text")
    .option("--json", JSON_HELP)
    .action((options: { search?: string; json?: boolean }) =>
      withSession(options, async ({ deps }, output) => {
        const found = await listUsers(deps, { search: options.search });
        if (output.json) output.out(JSON.stringify(found.map(jsonRecord)));
        else
          output.out(
            table(
              ["ID", "EMAIL", "STATUS", "TOKENS", "CREATED", "NAME"],
              found.map((u) => [
                u.id,
                u.email || (u.externalId ? `(host user ${u.externalId})` : "-"),
                u.disabledAt === null ? "enabled" : "disabled",
                String(u.activeTokens),
                shortTime(u.createdAt),
                u.name,
              ]),
            ),
          );
        return 0;
      }),
    );

  users
    .command("show")
    .description("show one user, with their applications")
    .argument("<user>", "user id (usr_...) or an account's email")
    .option("--json", JSON_HELP)
    .action((user: string, options: { json?: boolean }) =>
      withSession(options, async ({ deps }, output) => {
        const detail = await showUser(deps, user);
        if (output.json) {
          output.out(
            JSON.stringify({ ...jsonRecord(detail.user), applications: detail.applications }),
          );
        } else {
          const u = detail.user;
          output.out(
            [
              `id:           ${u.id}`,
              `email:        ${u.email || "-"}`,
              `name:         ${u.name}`,
              `kind:         ${u.hostApplicationId ? `host user ${u.externalId ?? "(removed)"} of ${u.hostApplicationId}` : "account"}`,
              `status:       ${u.disabledAt === null ? "enabled" : `disabled since ${shortTime(u.disabledAt)}`}`,
              `created:      ${shortTime(u.createdAt)}`,
              `active tokens: ${u.activeTokens}`,
              "",
              detail.applications.length === 0
                ? "Member of no application."
                : table(
                    ["APPLICATION", "ROLE", "NAME"],
                    detail.applications.map((a) => [a.id, a.role, a.name]),
                  ),
            ].join("\n"),
          );
        }
        return 0;
      }),
    );

  users
    .command("disable")
    .description(
      "disable a user: sign-in refused, every session ended, every token refused (until enabled)",
    )
    .argument("<user>", "user id (usr_...) or an account's email")
    .option("--json", JSON_HELP)
    .action((user: string, options: { json?: boolean }) =>
      withSession(options, async ({ deps, operator }, output) => {
        const result = await disableUser(deps, operator, user);
        if (output.json)
          output.out(
            JSON.stringify({
              user: jsonRecord(result.user),
              changed: result.changed,
              endedSessions: result.endedSessions,
            }),
          );
        else if (result.changed)
          output.out(
            `Disabled ${result.user.email || result.user.id}: ${result.endedSessions} session(s) ended; their tokens are refused.`,
          );
        else output.out(`${result.user.email || result.user.id} was already disabled.`);
        return 0;
      }),
    );

  users
    .command("enable")
    .description("enable a disabled user again (their tokens that are not revoked work again)")
    .argument("<user>", "user id (usr_...) or an account's email")
    .option("--json", JSON_HELP)
    .action((user: string, options: { json?: boolean }) =>
      withSession(options, async ({ deps, operator }, output) => {
        const result = await enableUser(deps, operator, user);
        if (output.json)
          output.out(JSON.stringify({ user: jsonRecord(result.user), changed: result.changed }));
        else
          output.out(
            result.changed
              ? `Enabled ${result.user.email || result.user.id}.`
              : `${result.user.email || result.user.id} was not disabled.`,
          );
        return 0;
      }),
    );

  users
    .command("disable-two-factor")
    .description(
      "turn off a user's two-factor authentication (they lost their phone and recovery codes); their password stays",
    )
    .argument("<user>", "user id (usr_...) or an account's email")
    .option("--json", JSON_HELP)
    .action((user: string, options: { json?: boolean }) =>
      withSession(options, async ({ deps, operator }, output) => {
        const result = await disableTwoFactor(deps, operator, user);
        if (output.json)
          output.out(JSON.stringify({ user: jsonRecord(result.user), changed: result.changed }));
        else
          output.out(
            result.changed
              ? `Two-factor authentication turned off for ${result.user.email || result.user.id}; their recovery codes are deleted.`
              : `${result.user.email || result.user.id} did not have two-factor authentication on.`,
          );
        return 0;
      }),
    );

  users
    .command("reset-password")
    .description(
      "print a one-time link that sets a new password (works once, within 30 minutes, and ends every session of the user); --random-password sets one now instead",
    )
    .argument("<user>", "user id (usr_...) or an account's email")
    .option(
      "--random-password",
      "set a new random password now, printed once, and end every session (no link)",
    )
    .option("--json", JSON_HELP)
    .action((user: string, options: { json?: boolean; randomPassword?: boolean }) =>
      withSession(options, async ({ deps, operator, linkOrigin }, output) => {
        if (!options.randomPassword) {
          const issued = await issueResetLink(deps, operator, user);
          const link = linkWithCode(linkOrigin, "/reset-password", issued.code);
          if (output.json)
            output.out(
              JSON.stringify({
                user: jsonRecord(issued.user),
                link,
                expiresAt: new Date(issued.expiresAt).toISOString(),
              }),
            );
          else
            output.out(
              [
                `Password reset link for ${issued.user.email} (works once, until ${new Date(issued.expiresAt).toISOString()}):`,
                link,
                "Hand it over privately: whoever opens it sets the password. Using it ends every session of the account.",
              ].join("\n"),
            );
          return 0;
        }
        const result = await resetPassword(deps, operator, user);
        if (output.json)
          output.out(
            JSON.stringify({
              user: jsonRecord(result.user),
              password: result.password,
              endedSessions: result.endedSessions,
            }),
          );
        else
          output.out(
            [
              `New password for ${result.user.email}: ${result.password}`,
              `It is shown once and not stored anywhere in clear; ${result.endedSessions} session(s) ended.`,
            ].join("\n"),
          );
        return 0;
      }),
    );

  // ---- applications --------------------------------------------------------------------
  const apps = program.command("apps").description("list and inspect applications");
  apps
    .command("list")
    .description("list every application, oldest first")
    .option("--json", JSON_HELP)
    .action((options: { json?: boolean }) =>
      withSession(options, async ({ deps }, output) => {
        const found = await listApplications(deps);
        if (output.json) output.out(JSON.stringify(found.map(jsonRecord)));
        else
          output.out(
            table(
              ["ID", "OWNER", "MEMBERS", "TOKENS", "CREATED", "NAME"],
              found.map((a) => [
                a.id,
                a.ownerEmail,
                String(a.members),
                String(a.activeTokens),
                shortTime(a.createdAt),
                a.name,
              ]),
            ),
          );
        return 0;
      }),
    );
  apps
    .command("show")
    .description("show one application with its members and service keys")
    .argument("<application>", "application id (app_...)")
    .option("--json", JSON_HELP)
    .action((application: string, options: { json?: boolean }) =>
      withSession(options, async ({ deps }, output) => {
        const detail = await showApplication(deps, application);
        if (output.json) {
          output.out(
            JSON.stringify({
              ...jsonRecord(detail.application),
              memberList: detail.members.map(jsonRecord),
              serviceKeys: detail.serviceKeys.map(jsonRecord),
            }),
          );
        } else {
          const a = detail.application;
          output.out(
            [
              `id:            ${a.id}`,
              `name:          ${a.name}`,
              `owner:         ${a.ownerEmail}`,
              `created:       ${shortTime(a.createdAt)}`,
              `scopes:        ${a.scopes.join(" ") || "-"}`,
              `active tokens: ${a.activeTokens}`,
              "",
              table(
                ["USER", "ROLE", "JOINED", "EMAIL"],
                detail.members.map((m) => [m.userId, m.role, shortTime(m.joinedAt), m.email]),
              ),
              "",
              detail.serviceKeys.length === 0
                ? "No service keys."
                : table(
                    ["SERVICE KEY", "STATUS", "HINT", "LAST USED", "NAME"],
                    detail.serviceKeys.map((k) => [
                      k.id,
                      k.revokedAt === null ? "active" : "revoked",
                      k.hint,
                      shortTime(k.lastUsedAt),
                      k.name,
                    ]),
                  ),
            ].join("\n"),
          );
        }
        return 0;
      }),
    );

  // ---- tokens --------------------------------------------------------------------------
  const tokens = program.command("tokens").description("list and revoke API tokens");
  tokens
    .command("list")
    .description("list tokens, newest first (never their secrets)")
    .option("--user <user>", "only this user's tokens (id or email)")
    .option("--application <id>", "only this application's tokens")
    .option("--active", "only tokens that still work")
    .option("--json", JSON_HELP)
    .action((options: { user?: string; application?: string; active?: boolean; json?: boolean }) =>
      withSession(options, async ({ deps }, output) => {
        const found = await listTokens(deps, {
          userIdOrEmail: options.user,
          applicationId: options.application,
          active: options.active,
        });
        if (output.json)
          output.out(JSON.stringify(found.map((t) => ({ ...jsonRecord(t), status: statusOf(t) }))));
        else output.out(table(TOKEN_HEADERS, tokenRows(found)));
        return 0;
      }),
    );
  tokens
    .command("revoke")
    .description(
      "revoke a token by id, or every token of a user or an application (running servers refuse them within 100 ms)",
    )
    .argument("[token]", "token id (tok_...)")
    .option("--user <user>", "revoke every token of this user (id or email)")
    .option("--application <id>", "revoke every token of this application")
    .option("--yes", "confirm revoking every token --user or --application selects")
    .option("--json", JSON_HELP)
    .action(
      (
        token: string | undefined,
        options: { user?: string; application?: string; yes?: boolean; json?: boolean },
      ) =>
        withSession(options, async ({ deps, operator }, output) => {
          const selection = {
            tokenId: token,
            userIdOrEmail: options.user,
            applicationId: options.application,
          };
          if (
            token === undefined &&
            options.user === undefined &&
            options.application === undefined
          ) {
            // A missing argument, as commander reports its own (exit 64).
            output.err(
              "Error: say which tokens to revoke: a token id, --user <user> or --application <id>.",
            );
            return EXIT_CODES.usage;
          }
          if (token === undefined && !options.yes) {
            const wouldRevoke = await listTokens(deps, { ...selection, active: true });
            output.err(
              wouldRevoke.length === 0
                ? "No active token matches; nothing to revoke."
                : `${table(TOKEN_HEADERS, tokenRows(wouldRevoke))}\n\nThis would revoke ${wouldRevoke.length} token(s). Run again with --yes to revoke them.`,
            );
            return wouldRevoke.length === 0 ? EXIT_CODES.ok : EXIT_CODES.usage;
          }
          const result = await revokeTokens(deps, operator, selection);
          if (output.json)
            output.out(
              JSON.stringify({
                revoked: result.revoked.map((t) => t.id),
                unchanged: result.unchanged.map((t) => t.id),
              }),
            );
          else {
            for (const t of result.revoked)
              output.out(`Revoked ${t.id} (${t.hint}, ${t.name}, ${t.ownerEmail}).`);
            if (token !== undefined && result.unchanged.length > 0)
              output.out(`${token} was already revoked; nothing changed.`);
            if (token === undefined)
              output.out(
                `${result.revoked.length} token(s) revoked, ${result.unchanged.length} already revoked.`,
              );
          }
          return 0;
        }),
    );

  // ---- service keys --------------------------------------------------------------------
  const keys = program
    .command("service-keys")
    .description("list and revoke service keys (a host product's keys)");
  keys
    .command("list")
    .description("list service keys, newest first (never their secrets)")
    .option("--application <id>", "only this application's keys")
    .option("--json", JSON_HELP)
    .action((options: { application?: string; json?: boolean }) =>
      withSession(options, async ({ deps }, output) => {
        const found = await listServiceKeys(deps, options.application);
        if (output.json)
          output.out(
            JSON.stringify(
              found.map((k) => ({
                ...jsonRecord(k),
                status: k.revokedAt === null ? "active" : "revoked",
              })),
            ),
          );
        else
          output.out(
            table(
              ["ID", "STATUS", "APPLICATION", "HINT", "LAST USED", "NAME"],
              found.map((k) => [
                k.id,
                k.revokedAt === null ? "active" : "revoked",
                k.applicationName,
                k.hint,
                shortTime(k.lastUsedAt),
                k.name,
              ]),
            ),
          );
        return 0;
      }),
    );
  keys
    .command("revoke")
    .description("revoke a service key (refused by every server from the next request)")
    .argument("<key>", "service key id (key_...)")
    .option("--json", JSON_HELP)
    .action((key: string, options: { json?: boolean }) =>
      withSession(options, async ({ deps, operator }, output) => {
        const result = await revokeServiceKey(deps, operator, key);
        if (output.json)
          output.out(
            JSON.stringify({ serviceKey: jsonRecord(result.key), changed: result.changed }),
          );
        else
          output.out(
            result.changed
              ? `Revoked service key ${result.key.id} (${result.key.hint}, ${result.key.name}, ${result.key.applicationName}).`
              : `Service key ${result.key.id} was already revoked; nothing changed.`,
          );
        return 0;
      }),
    );
}
