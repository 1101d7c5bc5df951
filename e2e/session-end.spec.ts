// Issue 19, items 1 and 8: a session that ends while the page is open is reported in place.
// The shown-once dialog and its secret stay on screen, the URL does not change, the user signs
// in again in a dialog, and what they typed is still there (a refused create is sent again).
import type { Browser, BrowserContext, Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import {
  type Client,
  createApp,
  signUpUser,
  type TestServer,
} from "../src/test-support/harness.js";
import {
  callApi,
  expectNoSeriousA11yViolations,
  generateTokenInUi,
  newContext,
  screenshot,
  signedInContext,
  signInAgainDialog,
  signInAgainInPlace,
  startServerAndBrowser,
  TEST_USER_PASSWORD,
  TOKEN_PATTERN,
} from "./support.js";

let server: TestServer;
let browser: Browser;

startServerAndBrowser((started, launched) => {
  server = started;
  browser = launched;
});

/** axe-core is injected as a script, which the UI's Content-Security-Policy would refuse. */
const axeContext = { bypassCSP: true };

/** The background refresh of the token list runs every 30 s (tokens-section.tsx). */
const REFRESH_INTERVAL_MS = 30_000;

interface Opened {
  context: BrowserContext;
  page: Page;
  client: Client;
  url: string;
  secret: string;
}

/** A signed-in user on their account page with a fresh token's show-once dialog open. */
async function openShowOnceDialog(tokenName: string): Promise<Opened> {
  const { context, page, client } = await signedInContext(
    browser,
    server.baseUrl,
    "Ada Lovelace",
    axeContext,
  );
  const appId = await createApp(client, "Session end");
  // A controllable clock, so the 30-second refresh can be brought forward.
  await page.clock.install();
  await page.goto(`/app/${appId}/account-management`);
  await page.getByRole("heading", { name: "API Tokens" }).waitFor();
  const secret = await generateTokenInUi(page, tokenName);
  expect(secret).toMatch(TOKEN_PATTERN);
  return { context, page, client, url: page.url(), secret };
}

const showOnceDialog = (page: Page) =>
  page.getByRole("dialog", { name: "Copy your new API token" });

/** What must hold after the session ended behind the open dialog, and after signing in again. */
async function expectSecretSurvives(opened: Opened, what: string): Promise<void> {
  const { page, url, secret } = opened;
  const signIn = signInAgainDialog(page);
  await signIn.waitFor();
  expect(await signIn.getByRole("alert").textContent()).toContain("Your session has ended");
  expect(page.url(), what).toBe(url);
  await expect.poll(() => showOnceDialog(page).isVisible()).toBe(true);
  expect(
    await showOnceDialog(page)
      .getByLabel(/^Token for/)
      .inputValue(),
  ).toBe(secret);
  await screenshot(page, `session-ended-${what}`, { fullPage: false });
  await expectNoSeriousA11yViolations(page, `the sign-in dialog (${what})`);

  await signInAgainInPlace(page);
  expect(page.url(), what).toBe(url);
  expect(
    await showOnceDialog(page)
      .getByLabel(/^Token for/)
      .inputValue(),
  ).toBe(secret);
  expect(await callApi(server.baseUrl, secret)).toBe(200);
  // The page works again: the refused refresh was sent again and the new token is listed.
  await page.getByRole("table", { name: /tokens/i }).waitFor();

  // Closing still asks first: the secret was neither copied nor marked as saved.
  await page.keyboard.press("Escape");
  await page.getByRole("dialog", { name: "Close without saving the token?" }).waitFor();
  await page.getByRole("button", { name: "Go back to the token" }).click();
  expect(
    await showOnceDialog(page)
      .getByLabel(/^Token for/)
      .inputValue(),
  ).toBe(secret);
}

describe("a session that ends while the show-once dialog is open", () => {
  it("cookie cleared: the next background refresh reports it in place", async () => {
    const opened = await openShowOnceDialog("Cookie cleared");
    await opened.context.clearCookies();
    await opened.page.clock.fastForward(REFRESH_INTERVAL_MS);
    await expectSecretSurvives(opened, "cookie-cleared");
    await opened.context.close();
  });

  it("sign-out in another tab: this tab reports it in place", async () => {
    const opened = await openShowOnceDialog("Other tab");
    const other = await opened.context.newPage();
    await other.goto("/apps");
    await other.getByRole("button", { name: "Sign out" }).click();
    await other.waitForURL("**/signin?signedOut=1");
    await expectSecretSurvives(opened, "other-tab");
    await opened.context.close();
  });

  it("a refresh answered 401: reported in place, and the refresh is sent again after sign-in", async () => {
    const opened = await openShowOnceDialog("Refresh 401");
    const { page } = opened;
    let refused = 0;
    await page.route(
      (url) => /\/api\/v1\/applications\/[^/]+\/tokens$/.test(url.pathname),
      async (route) => {
        if (route.request().method() !== "GET") return route.fallback();
        refused++;
        await route.fulfill({
          status: 401,
          contentType: "application/problem+json",
          body: JSON.stringify({
            type: "about:blank",
            title: "Authentication is required",
            status: 401,
            code: "authentication_required",
            detail: "Sign in to continue.",
          }),
        });
      },
    );
    await page.clock.fastForward(REFRESH_INTERVAL_MS);
    await signInAgainDialog(page).waitFor();
    expect(refused).toBe(1);
    await page.unrouteAll({ behavior: "wait" });
    await expectSecretSurvives(opened, "refresh-401");
    await opened.context.close();
  });

  it("a window focus after the session expired server-side: reported in place", async () => {
    const opened = await openShowOnceDialog("Window focus");
    // Ends the browser's session on the server, as an expiry would: the client holds the
    // same session cookie the browser was given.
    const signedOut = await opened.client.post("/api/v1/auth/signout");
    expect(signedOut.status).toBe(204);
    await opened.page.evaluate("window.dispatchEvent(new Event('focus'))");
    await expectSecretSurvives(opened, "window-focus");
    await opened.context.close();
  });
});

describe("what was typed survives an ended session", () => {
  it("Generate Token after the session ended asks to sign in in place and keeps the name", async () => {
    const { context, page, client } = await signedInContext(
      browser,
      server.baseUrl,
      "Ada Lovelace",
      axeContext,
    );
    const appId = await createApp(client, "Typed");
    await page.goto(`/app/${appId}/account-management`);
    await page.getByRole("heading", { name: "API Tokens" }).waitFor();
    const url = page.url();
    const nameField = page.getByLabel("Token name");
    await nameField.fill("CI deploy");
    await context.clearCookies();

    // Put off: the form says what happened, the name stays, and a notice offers the sign-in.
    await page.getByRole("button", { name: "Generate Token" }).click();
    await signInAgainDialog(page).waitFor();
    expect(page.url()).toBe(url);
    expect(await nameField.inputValue()).toBe("CI deploy");
    await signInAgainDialog(page).getByRole("button", { name: "Not now" }).click();
    await page
      .getByText("Your session has ended. Sign in again, then press Generate Token")
      .waitFor();
    expect(await nameField.inputValue()).toBe("CI deploy");
    await expectNoSeriousA11yViolations(page, "the session-ended notice");
    await page.getByRole("button", { name: "Sign in again" }).click();
    await signInAgainInPlace(page);
    expect(await nameField.inputValue()).toBe("CI deploy");

    // The name is still there: pressing Generate Token again creates the token.
    await context.clearCookies();
    await page.getByRole("button", { name: "Generate Token" }).click();
    // Signing in straight away sends the refused create again, with the name as typed.
    await signInAgainInPlace(page);
    const dialog = showOnceDialog(page);
    await dialog.waitFor();
    expect(await dialog.getByLabel("Token for CI deploy").isVisible()).toBe(true);
    const secret = await dialog.getByLabel(/^Token for/).inputValue();
    expect(secret).toMatch(TOKEN_PATTERN);
    expect(await callApi(server.baseUrl, secret)).toBe(200);
    expect(page.url()).toBe(url);
    // One token, not two: the create refused for want of a session did nothing.
    const list = await client.get<{ tokens: Array<{ name: string }> }>(
      `/api/v1/applications/${appId}/tokens`,
    );
    // The client's own session was cleared only in the browser, so it still lists.
    expect(list.body.tokens.map((t) => t.name)).toEqual(["CI deploy"]);
    await context.close();
  });

  it("signs in to the page asked for by ?next=, and never to another site however it is spelled", async () => {
    const { user } = await signUpUser(server.baseUrl);
    /** Signs in in a fresh browser at /signin?next=<next>; answers where it lands. */
    const signInWithNext = async (next: string) => {
      const context = await newContext(browser, server.baseUrl);
      const page = await context.newPage();
      await page.goto(`/signin?next=${encodeURIComponent(next)}`);
      await page.getByRole("heading", { name: "Sign in to Keyward" }).waitFor();
      await page.getByLabel("Email").fill(user.email);
      await page.getByLabel("Password").fill(TEST_USER_PASSWORD);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.waitForURL((url) => url.pathname !== "/signin");
      const landed = new URL(page.url());
      await context.close();
      return landed;
    };
    const origin = new URL(server.baseUrl).origin;
    // The browser reads a tab or a line break as nothing and a backslash as a slash: each of
    // these is `//evil.example`, another site. Each lands on the application list instead.
    for (const next of [
      "/\t/evil.example/x",
      "/\n/evil.example",
      "/\\evil.example",
      "//evil.example",
    ]) {
      const landed = await signInWithNext(next);
      expect(`${landed.origin}${landed.pathname}`, JSON.stringify(next)).toBe(`${origin}/apps`);
    }
    // A path of this site is kept, with its query.
    const kept = await signInWithNext("/security?from=next");
    expect(`${kept.origin}${kept.pathname}${kept.search}`).toBe(`${origin}/security?from=next`);
  });

  it("a signed-out start still goes to the sign-in page", async () => {
    const context = await newContext(browser, server.baseUrl);
    const page = await context.newPage();
    await page.goto("/apps");
    await page.waitForURL("**/signin?next=%2Fapps");
    await page.getByRole("heading", { name: "Sign in to Keyward" }).waitFor();
    await context.close();
  });
});
