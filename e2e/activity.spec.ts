// The audit trail in the web UI: the account page's Activity section (token and member
// events, filter, pages), a token's own events on its page, and the user's Account activity
// (sign-ups and sign-ins, failed ones standing out). Real Chromium, real server.
import type { Browser, Locator, Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import {
  createApp,
  createToken,
  signUpUser,
  startTestServer,
  type TestServer,
} from "../src/test-support/harness.js";
import {
  callApi,
  cellText,
  expectNoSeriousA11yViolations,
  newContext,
  readShownToken,
  screenshotOf,
  signedInContext,
  startServerAndBrowser,
  tokenRow,
} from "./support.js";

let server: TestServer;
let browser: Browser;

startServerAndBrowser((started, launched) => {
  server = started;
  browser = launched;
});

// axe-core is injected as a script, which the UI's CSP rightly refuses; see accessibility.spec.ts.
const axeContext = { bypassCSP: true };

function activityTable(page: Page): Locator {
  return page.getByRole("table", { name: "Activity" });
}

/** The Event column of every shown row, top to bottom. */
async function eventTexts(table: Locator): Promise<string[]> {
  const rows = await table.locator("tbody tr").all();
  return Promise.all(rows.map((row) => cellText(row, "Event")));
}

async function closeShowOnce(page: Page) {
  const dialog = page.getByRole("dialog");
  await dialog.getByRole("checkbox", { name: /I have saved this token/ }).check();
  await dialog.getByRole("button", { name: "Done" }).click();
  await dialog.waitFor({ state: "hidden" });
}

/** What the window does when the user comes back to the tab: the trail looks for new events. */
async function refocusWindow(page: Page) {
  await page.evaluate("window.dispatchEvent(new Event('focus'))");
}

describe("Activity on the account page", () => {
  it("shows create, regenerate and revoke in order, a leak report, filters by type, and passes axe", async () => {
    const { context, page, client, user } = await signedInContext(
      browser,
      server.baseUrl,
      "Ada Lovelace",
      axeContext,
    );
    const appId = await createApp(client, "Audited");
    await page.goto(`/app/${appId}/account-management`);
    const table = activityTable(page);
    await page.getByRole("heading", { name: "Activity" }).waitFor();
    await page.getByText("Nothing has happened here yet.").waitFor();
    await page.evaluate("window.__noReload = true");

    // Create, regenerate, revoke "deploy" in the UI; the section follows without a reload.
    const dialog = page.getByRole("dialog");
    await page.getByLabel("Token name").fill("deploy");
    await page.getByRole("button", { name: "Generate Token" }).click();
    const first = await readShownToken(page);
    await closeShowOnce(page);
    const row = tokenRow(page, "deploy");
    await row.getByRole("button", { name: "Regenerate" }).click();
    await dialog.getByRole("radio", { name: "1 hour" }).check();
    await dialog.getByRole("button", { name: "Regenerate token" }).click();
    const second = await readShownToken(page);
    expect(second).not.toBe(first);
    await closeShowOnce(page);
    await row.getByRole("button", { name: "Revoke", exact: true }).click();
    await dialog.getByRole("button", { name: "Revoke", exact: true }).click();
    await dialog.waitFor({ state: "hidden" });

    await expect
      .poll(() => eventTexts(table))
      .toEqual([
        `${user.email} revoked token “deploy”`,
        `${user.email} regenerated token “deploy”; the old secret kept working 1 hour`,
        expect.stringMatching(
          new RegExp(
            `^${escapeRegExp(user.email)} created token “deploy”, expiring [A-Z][a-z]{2} \\d+, \\d{4}$`,
          ),
        ),
      ]);
    expect(await page.evaluate("window.__noReload")).toBe(true);
    const newest = table.locator("tbody tr").first();
    expect(await cellText(newest, "Actor")).toBe(`${user.email} (you)`);
    expect(await cellText(newest, "Address")).toBe("127.0.0.1");
    expect(await cellText(newest, "When")).toBe("just now");
    // The exact time is on hover (title) and on focus (the same text, drawn by CSS).
    const when = newest.locator("time");
    expect(await when.getAttribute("title")).toMatch(/\d{4}.*UTC/);
    expect(await when.getAttribute("tabindex")).toBe("0");

    // A secret scanner reports "ci" as leaked: revoked, and the owner sees why.
    const ci = await createToken(client, appId, { name: "ci" });
    const report = await fetch(`${server.baseUrl}/api/v1/leaks`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ tokens: [ci.token] }),
    });
    expect(report.status).toBe(202);
    expect(await callApi(server.baseUrl, ci.token)).toBe(401);
    await refocusWindow(page);
    await expect
      .poll(async () => (await eventTexts(table))[0])
      .toBe("Token “ci” revoked: reported leaked");
    const leaked = table.locator("tbody tr").first();
    expect(await cellText(leaked, "Actor")).toBe("Leak report");
    expect((await eventTexts(table))[1]).toBe(`${user.email} created token “ci”, with no expiry`);
    expect(await eventTexts(table)).toHaveLength(5);

    // A token named like markup is text in the trail too.
    const markup = "<b id=injected>bold</b>";
    await createToken(client, appId, { name: markup });
    await refocusWindow(page);
    await expect
      .poll(async () => (await eventTexts(table))[0])
      .toContain(`created token “${markup}”`);
    expect(await page.locator("#injected").count()).toBe(0);

    await expectNoSeriousA11yViolations(page, "account page with Activity");
    await screenshotOf(page.getByRole("region", { name: "Activity" }), "activity-section");

    // Filter by type: only revocations, then only regenerations, then everything again.
    const filter = page.getByLabel("Event type");
    await filter.selectOption({ label: "Token revoked" });
    await expect
      .poll(() => eventTexts(table))
      .toEqual(["Token “ci” revoked: reported leaked", `${user.email} revoked token “deploy”`]);
    await expectNoSeriousA11yViolations(page, "Activity filtered");
    await filter.selectOption({ label: "Token regenerated" });
    await expect.poll(() => eventTexts(table)).toHaveLength(1);
    expect((await eventTexts(table))[0]).toContain("regenerated token “deploy”");
    await filter.selectOption({ label: "Sent over plain HTTP" });
    await page.getByText("No events of this type.").waitFor();
    await filter.selectOption({ label: "All events" });
    await expect.poll(() => eventTexts(table)).toHaveLength(6);

    // The token's page shows that token's events only.
    await row.getByRole("link", { name: "deploy", exact: true }).click();
    await page.getByRole("heading", { name: "deploy", level: 1 }).waitFor();
    await expect
      .poll(() => eventTexts(activityTable(page)))
      .toEqual([
        `${user.email} revoked token “deploy”`,
        `${user.email} regenerated token “deploy”; the old secret kept working 1 hour`,
        expect.stringContaining("created token “deploy”"),
      ]);
    // Member events are not a token's: the filter offers token events only.
    const options = await page.getByLabel("Event type").locator("option").allTextContents();
    expect(options).toEqual([
      "All events",
      "Token created",
      "Token regenerated",
      "Token revoked",
      "Sent over plain HTTP",
    ]);
    await expectNoSeriousA11yViolations(page, "token page with Activity");
    await context.close();
  }, 90_000);

  it("records member changes for the owner; a member sees only their own tokens' events", async () => {
    const { context, page, client, user } = await signedInContext(browser, server.baseUrl);
    const { client: memberClient, user: member } = await signUpUser(server.baseUrl, "Bo Member");
    const appId = await createApp(client, "Team");
    await createToken(client, appId, { name: "owner token" });

    await page.goto(`/app/${appId}/account-management`);
    await page.getByLabel("Member email").fill(member.email);
    await page.getByRole("button", { name: "Invite", exact: true }).click();
    const pending = page.getByRole("table", { name: "Pending invitations" });
    await pending.getByRole("row").filter({ hasText: member.email }).waitFor();
    const table = activityTable(page);
    await expect
      .poll(async () => (await eventTexts(table))[0])
      .toBe(`${user.email} invited ${member.email} as member`);
    // The invitee accepts: the trail says the inviter added them.
    const invitations = await memberClient.get<{ invitations: Array<{ id: string }> }>(
      "/api/v1/me/invitations",
    );
    const invitationId = invitations.body.invitations[0]?.id ?? "";
    expect((await memberClient.post(`/api/v1/me/invitations/${invitationId}/accept`)).status).toBe(
      201,
    );
    await page.reload();
    await page.getByRole("button", { name: `Remove ${member.email}` }).waitFor();
    await expect
      .poll(async () => (await eventTexts(table))[0])
      .toBe(`${user.email} added ${member.email} as a member`);

    // The member creates a token; the member's view of the trail has that token's event only.
    await createToken(memberClient, appId, { name: "member token" });
    const memberContext = await newContext(browser, server.baseUrl);
    const [cookieName, ...rest] = memberClient.cookie.split("=");
    await memberContext.addCookies([
      { name: cookieName ?? "", value: rest.join("="), url: server.baseUrl },
    ]);
    const memberPage = await memberContext.newPage();
    await memberPage.goto(`/app/${appId}/account-management`);
    await memberPage.getByText("What happened to your tokens in this application").waitFor();
    await expect
      .poll(() => eventTexts(activityTable(memberPage)))
      .toEqual([`${member.email} created token “member token”, with no expiry`]);
    const memberOptions = await memberPage
      .getByLabel("Event type")
      .locator("option")
      .allTextContents();
    expect(memberOptions).not.toContain("Member added");
    await memberContext.close();

    // The owner removes the member: one event for the removal, one for the revoked token.
    await page.getByRole("button", { name: `Remove ${member.email}` }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Remove member" }).click();
    await page.getByRole("dialog").waitFor({ state: "hidden" });
    await expect
      .poll(async () => (await eventTexts(table)).slice(0, 2).sort())
      .toEqual(
        [
          `${user.email} removed ${member.email}; 1 token revoked with them`,
          "Token “member token” revoked: its owner was removed from the application",
        ].sort(),
      );
    await context.close();
  }, 60_000);

  it("loads older events a page at a time", async () => {
    const { context, page, client } = await signedInContext(browser, server.baseUrl);
    const appId = await createApp(client, "Busy");
    for (let i = 1; i <= 30; i++) await createToken(client, appId, { name: `bot ${i}` });
    await page.goto(`/app/${appId}/account-management`);
    const table = activityTable(page);
    await expect.poll(() => eventTexts(table)).toHaveLength(25);
    expect((await eventTexts(table))[0]).toContain("“bot 30”");
    await page.getByRole("button", { name: "Load older" }).click();
    await expect.poll(() => eventTexts(table)).toHaveLength(30);
    const events = await eventTexts(table);
    expect(events.at(-1)).toContain("“bot 1”");
    expect(new Set(events).size).toBe(30);
    // No more pages: the button is gone and focus went to the first event it brought.
    expect(await page.getByRole("button", { name: "Load older" }).count()).toBe(0);
    expect(await page.evaluate("document.activeElement?.textContent")).toContain("“bot 5”");
    await page.getByText("5 older events loaded.").waitFor({ state: "attached" });
    await context.close();
  }, 60_000);
});

describe("Activity behind a proxy with REQUIRE_HTTPS", () => {
  it("shows a token sent over plain HTTP, with the client's address", async () => {
    const proxied = await startTestServer({ REQUIRE_HTTPS: "true", TRUST_PROXY: "true" });
    try {
      const { context, page, client } = await signedInContext(browser, proxied.baseUrl);
      const appId = await createApp(client, "Proxied");
      const { token } = await createToken(client, appId, { name: "ci" });
      const response = await fetch(`${proxied.baseUrl}/api`, {
        headers: {
          authorization: `Bearer ${token}`,
          "x-forwarded-for": "203.0.113.7",
          "x-forwarded-proto": "http",
        },
      });
      await response.arrayBuffer();
      expect(response.status).toBe(403);

      await page.goto(`/app/${appId}/account-management`);
      const table = activityTable(page);
      await expect
        .poll(async () => (await eventTexts(table))[0])
        .toBe("Token “ci” was sent over plain HTTP from 203.0.113.7");
      const row = table.locator("tbody tr").first();
      expect(await cellText(row, "Actor")).toBe("Keyward");
      expect(await cellText(row, "Address")).toBe("203.0.113.7");
      await page.getByLabel("Event type").selectOption({ label: "Sent over plain HTTP" });
      await expect.poll(() => eventTexts(table)).toHaveLength(1);
      await context.close();
    } finally {
      await proxied.close();
    }
  }, 60_000);
});

describe("Account activity", () => {
  it("lists sign-up, a failed sign-in (standing out) and a successful one, with addresses", async () => {
    const { user } = await signUpUser(server.baseUrl, "Grace Hopper");
    const context = await newContext(browser, server.baseUrl, axeContext);
    const page = await context.newPage();

    await page.goto("/signin");
    await page.getByLabel("Email").fill(user.email);
    await page.getByLabel("Password").fill("not the password");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("alert").waitFor();
    await page.getByLabel("Password").fill("correct horse battery staple");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL("**/apps");

    const table = page.getByRole("table", { name: "Account activity" });
    await expect
      .poll(() => eventTexts(table))
      .toEqual(["Signed in", "Failed sign-in: wrong password", "Account created"]);
    const rows = table.locator("tbody tr");
    for (let i = 0; i < 3; i++) {
      expect(await cellText(rows.nth(i), "Address")).toBe("127.0.0.1");
      expect(await rows.nth(i).locator("time").getAttribute("title")).toMatch(/\d{4}/);
    }
    // The failure stands out in more than colour: its words, a mark, a warning above the table.
    const failed = rows.nth(1);
    expect(await failed.getAttribute("class")).toContain("row-failed");
    expect(await failed.locator(".failed-mark").count()).toBe(1);
    await page.getByText("1 failed sign-in below.").waitFor();
    expect(await rows.nth(0).getAttribute("class")).not.toContain("row-failed");

    await expectNoSeriousA11yViolations(page, "applications page with Account activity");
    await screenshotOf(page.getByRole("region", { name: "Account activity" }), "account-activity");
    await context.close();
  }, 60_000);
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
