// Token hygiene at a glance, and the token detail page. The server runs on a clock the test
// can move, so tokens can be created and used "100 days ago".
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  Client,
  createApp,
  createToken,
  flushUsage,
  signUpUser,
  startTestServer,
  type TestServer,
} from "../src/test-support/harness.js";
import {
  addSessionCookie,
  assertUiBuilt,
  callApi,
  cellText,
  launchBrowser,
  newContext,
  readShownToken,
  screenshot,
  signedInContext,
  tokenRow,
} from "./support.js";

const DAY_MS = 86_400_000;
let offsetMs = 0;
const clock = { now: () => Date.now() + offsetMs };

let server: TestServer;
let browser: Browser;

beforeAll(async () => {
  assertUiBuilt();
  [server, browser] = await Promise.all([startTestServer({}, { clock }), launchBrowser()]);
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe("token hygiene and details", () => {
  it("flags never-used, dormant, old and expiring tokens, each with a one-step fix", async () => {
    // 100 days ago: an account, an application and three tokens.
    offsetMs = -100 * DAY_MS;
    const { client: past, user } = await signUpUser(server.baseUrl, "Hal Hygiene");
    const appId = await createApp(past, "Legacy");
    await createToken(past, appId, { name: "never-used-old" });
    const dormant = await createToken(past, appId, { name: "dormant" });
    const oldButBusy = await createToken(past, appId, { name: "old-but-busy" });
    offsetMs = -95 * DAY_MS;
    expect(await callApi(server.baseUrl, dormant.token)).toBe(200);
    await flushUsage(server);

    // Today: one busy old token, one about to expire, one fresh.
    offsetMs = 0;
    const client = new Client(server.baseUrl);
    const signedIn = await client.post("/api/v1/auth/signin", {
      email: user.email,
      password: "correct horse battery staple",
    });
    expect(signedIn.status).toBe(200);
    expect(await callApi(server.baseUrl, oldButBusy.token)).toBe(200);
    await createToken(client, appId, {
      name: "expiring",
      expiresAt: new Date(Date.now() + 3 * DAY_MS).toISOString(),
    });
    await createToken(client, appId, { name: "fresh" });
    await flushUsage(server);

    const context = await newContext(browser, server.baseUrl);
    await addSessionCookie(context, client, server.baseUrl);
    const page = await context.newPage();
    await page.goto(`/app/${appId}/account-management`);
    const panel = page.getByRole("region", { name: /need attention/ });
    await panel.waitFor();
    expect(await panel.getByRole("heading").textContent()).toBe("4 tokens need attention");
    const item = (name: string) => panel.getByRole("listitem").filter({ hasText: name });
    expect(await item("never-used-old").textContent()).toContain("Never used");
    expect(await item("never-used-old").textContent()).toContain("Older than 90 days");
    expect(await item("dormant").textContent()).toContain("Unused for 90+ days");
    expect(await item("old-but-busy").textContent()).toContain("Older than 90 days");
    expect(await item("expiring").textContent()).toContain("Expires soon");
    expect(await panel.getByText("fresh").count()).toBe(0);
    // The table carries the same flags.
    expect(await cellText(tokenRow(page, "dormant"), "Status")).toContain("Unused for 90+ days");
    expect(await cellText(tokenRow(page, "dormant"), "Last used")).toBe("3 months ago");
    await screenshot(page, "account-page-hygiene");

    // One step each: revoke the unused one...
    const dialog = page.getByRole("dialog");
    await item("never-used-old").getByRole("button", { name: "Revoke never-used-old" }).click();
    await dialog.getByRole("button", { name: "Revoke", exact: true }).click();
    await dialog.waitFor({ state: "hidden" });
    await item("never-used-old").waitFor({ state: "detached" });
    expect(await panel.getByRole("heading").textContent()).toBe("3 tokens need attention");

    // ...rotate the old one (its previous secret stops at once)...
    await item("old-but-busy").getByRole("button", { name: "Regenerate old-but-busy" }).click();
    await dialog.getByRole("button", { name: "Regenerate token" }).click();
    const rotated = await readShownToken(page);
    await dialog.getByRole("button", { name: "Copy", exact: true }).click();
    await dialog.getByRole("button", { name: "Done" }).click();
    await dialog.waitFor({ state: "hidden" });
    expect(await callApi(server.baseUrl, oldButBusy.token)).toBe(401);
    expect(await callApi(server.baseUrl, rotated)).toBe(200);

    // ...and start a replacement for the expiring one, prefilled.
    await item("expiring").getByRole("button", { name: "Create replacement for expiring" }).click();
    const name = page.getByLabel("Token name");
    await expect.poll(() => name.inputValue()).toBe("expiring (new)");
    expect(await name.evaluate((el) => el === el.ownerDocument.activeElement)).toBe(true);
    await context.close();
  }, 60_000);

  it("shows a token's daily usage, last use, scopes and expiry on its own page", async () => {
    const { context, page, client } = await signedInContext(browser, server.baseUrl);
    const created = await client.post<{ id: string }>("/api/v1/applications", {
      name: "Detailed",
      scopes: ["read", "write"],
    });
    const appId = created.body.id;
    const expiresAt = new Date(Date.now() + 45 * DAY_MS).toISOString();
    const { token } = await createToken(client, appId, {
      name: "reporting",
      scopes: ["read"],
      expiresAt,
    });
    for (let i = 0; i < 3; i++) expect(await callApi(server.baseUrl, token)).toBe(200);
    await flushUsage(server);

    await page.goto(`/app/${appId}/account-management`);
    await tokenRow(page, "reporting").getByRole("link", { name: "reporting" }).click();
    await page.getByRole("heading", { name: "reporting", level: 1 }).waitFor();
    const chart = page.getByRole("img", { name: /Requests per day/ });
    await chart.waitFor();
    expect(await chart.getAttribute("aria-label")).toContain("3 requests in total");
    const details = page.getByRole("region", { name: "Details" });
    // biome-ignore lint/performance/useDomNodeTextContent: the rendered text, with line breaks between facts.
    const text = (await details.innerText()).replace(/\s+/g, " ");
    expect(text).toContain("Last used just now");
    expect(text).toContain("Expires in 45 days");
    expect(text).toMatch(/Scopes read/);
    // The numbers behind the chart, as a table.
    await page.getByText("Show as a table").click();
    const today = new Date().toISOString().slice(0, 10);
    const todayRow = page.getByRole("row").filter({ hasText: today });
    expect(await cellText(todayRow, "Requests")).toBe("3");
    await page.getByLabel("Period").selectOption("7");
    const usageTable = page.getByRole("region", { name: "Daily usage" }).getByRole("table");
    await expect.poll(() => usageTable.getByRole("row").count()).toBe(8);
    await screenshot(page, "token-detail");
    await context.close();
  }, 60_000);
});
