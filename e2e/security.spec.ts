// Issue 14: the Security page (sessions, password) and the password prompt before a
// sensitive action.
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../src/test-support/clock.js";
import {
  Client,
  createApp,
  startTestServer,
  type TestServer,
} from "../src/test-support/harness.js";
import {
  assertUiBuilt,
  expectNoSeriousA11yViolations,
  launchBrowser,
  screenshot,
  signedInContext,
  TEST_USER_PASSWORD,
} from "./support.js";

let server: TestServer;
let browser: Browser;
const clock = new ManualClock();

beforeAll(async () => {
  assertUiBuilt();
  [server, browser] = await Promise.all([startTestServer({}, { clock }), launchBrowser()]);
});
afterAll(async () => {
  await browser?.close();
  await server?.close();
});

/** Another browser of the same user: a sign-in over the API with its own User-Agent. */
async function otherSession(email: string, userAgent: string): Promise<Client> {
  const client = new Client(server.baseUrl);
  const res = await client.request("POST", "/api/v1/auth/signin", {
    body: { email, password: TEST_USER_PASSWORD },
    headers: { "user-agent": userAgent },
  });
  expect(res.status).toBe(200);
  return client;
}

const PHONE =
  "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Mobile Safari/537.36";

describe("the Security page", () => {
  it("lists the sessions and signs out another one", async () => {
    const { context, page, client, user } = await signedInContext(browser, server.baseUrl, "Ada", {
      bypassCSP: true,
    });
    // The browser holds the sign-up session (the API client's cookie); two more devices.
    const phone = await otherSession(user.email, PHONE);
    const laptop = await otherSession(user.email, "Mozilla/5.0 (Windows NT 10.0) Firefox/131.0");
    await page.goto("/apps");
    await page.getByRole("link", { name: "Security" }).click();
    await page.getByRole("heading", { name: "Security", level: 1 }).waitFor();
    const rows = page.getByRole("table", { name: "Sessions" }).locator("tbody tr");
    await expect.poll(() => rows.count()).toBe(3);
    // The browser's own session is marked; the phone is named from its User-Agent.
    const phoneRow = rows.filter({ hasText: "Chrome on Android" });
    expect(await phoneRow.count()).toBe(1);
    expect(await phoneRow.textContent()).toContain("127.0.0.1");
    expect(await rows.filter({ hasText: "This session" }).count()).toBe(1);
    await screenshot(page, "security-sessions");
    await expectNoSeriousA11yViolations(page, "the Security page");

    await phoneRow.getByRole("button", { name: /^Sign out Chrome on Android/ }).click();
    const dialog = page.getByRole("dialog", { name: "Sign out this session?" });
    await dialog.getByRole("button", { name: "Sign out" }).click();
    await dialog.waitFor({ state: "detached" });
    await expect.poll(() => rows.count()).toBe(2);
    expect((await phone.get("/api/v1/me")).status).toBe(401);
    expect((await laptop.get("/api/v1/me")).status).toBe(200);

    await page.getByRole("button", { name: "Sign out of all other sessions" }).click();
    await page
      .getByRole("dialog", { name: "Sign out of all other sessions?" })
      .getByRole("button", { name: "Sign out others" })
      .click();
    await expect.poll(() => rows.count()).toBe(1);
    expect((await laptop.get("/api/v1/me")).status).toBe(401);
    // This browser's own session (shared with the API client) goes on.
    expect((await client.get("/api/v1/me")).status).toBe(200);
    expect(await rows.filter({ hasText: "This session" }).count()).toBe(1);
    await context.close();
  });

  it("changes the password, refusing a common one first; other sessions end", async () => {
    const { context, page, user } = await signedInContext(browser, server.baseUrl);
    const other = await otherSession(user.email, PHONE);
    await page.goto("/security");
    await page.getByLabel("Current password").fill(TEST_USER_PASSWORD);
    await page.getByLabel("New password").fill("password123");
    await page.getByRole("button", { name: "Change password" }).click();
    await expect
      .poll(() => page.getByRole("alert").filter({ hasText: "most common" }).count())
      .toBe(1);
    expect((await other.get("/api/v1/me")).status).toBe(200);
    await page.getByLabel("New password").fill("a brand new passphrase");
    await page.getByRole("button", { name: "Change password" }).click();
    await page.getByText("Password changed.").waitFor();
    expect((await other.get("/api/v1/me")).status).toBe(401);
    const signIn = await new Client(server.baseUrl).post("/api/v1/auth/signin", {
      email: user.email,
      password: "a brand new passphrase",
    });
    expect(signIn.status).toBe(200);
    await context.close();
  });
});

describe("recent sign-in for sensitive actions", () => {
  it("asks for the password, then creates the service key without typing its name again", async () => {
    const { context, page, client } = await signedInContext(browser, server.baseUrl, "Ada", {
      bypassCSP: true,
    });
    const appId = await createApp(client, "Sudo");
    clock.advance(16 * 60_000);
    await page.goto(`/app/${appId}/settings`);
    await page.getByLabel("Service key name").fill("billing-api");
    await page.getByRole("button", { name: "Create service key" }).click();
    const prompt = page.getByRole("dialog", { name: "Confirm your password" });
    await prompt.waitFor();
    await expectNoSeriousA11yViolations(page, "the password prompt");
    await prompt.getByLabel("Password").fill("not my password");
    await prompt.getByRole("button", { name: "Confirm" }).click();
    await prompt.getByText("That is not your password.").waitFor();
    await prompt.getByLabel("Password").fill(TEST_USER_PASSWORD);
    await prompt.getByRole("button", { name: "Confirm" }).click();
    const shown = page.getByRole("dialog", { name: "Copy your new service key" });
    await shown.waitFor();
    await prompt.waitFor({ state: "detached" });
    const keys = await client.get<{ serviceKeys: Array<{ name: string }> }>(
      `/api/v1/applications/${appId}/service-keys`,
    );
    expect(keys.body.serviceKeys.map((k) => k.name)).toEqual(["billing-api"]);
    await context.close();
  });
});
