// The account page's API Tokens section in real Chromium against a real server: the
// acceptance path of issue 3 (sign up → generate → use → Last used → revoke), regeneration,
// hostile names and keyboard-only use.
import type { Browser, ConsoleMessage, Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { createApp, createToken, type TestServer } from "../src/test-support/harness.js";
import {
  callApi,
  cellText,
  newContext,
  readShownToken,
  screenshot,
  signedInContext,
  startServerAndBrowser,
  TOKEN_PATTERN,
  tokenRow,
} from "./support.js";

let server: TestServer;
let browser: Browser;

startServerAndBrowser((started, launched) => {
  server = started;
  browser = launched;
});

async function activeElementDescription(page: Page): Promise<string> {
  return page.evaluate(
    `(() => { const el = document.activeElement; return el ? el.tagName + ":" + (el.getAttribute("aria-label") || el.textContent || "").trim() + ":" + (el.labels?.[0]?.textContent ?? "") : ""; })()`,
  );
}

/** Presses Tab until the focused element matches, as a keyboard user would. */
async function tabTo(page: Page, matches: (description: string) => boolean, limit = 40) {
  for (let i = 0; i < limit; i++) {
    await page.keyboard.press("Tab");
    const description = await activeElementDescription(page);
    if (matches(description)) return;
  }
  throw new Error("did not reach the control by pressing Tab");
}

describe("API Tokens on the account page", () => {
  it("signs up, creates an application, generates a token, uses it, sees Last used, revokes it, signs out and in", async () => {
    const context = await newContext(browser, server.baseUrl);
    const page = await context.newPage();
    const console: string[] = [];
    page.on("console", (message: ConsoleMessage) => console.push(message.text()));
    page.on("pageerror", (error) => console.push(String(error)));

    // Sign up.
    await page.goto("/signup");
    await page.getByLabel("Name").fill("Grace Hopper");
    const email = `grace-${Date.now()}@example.com`;
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill("a long enough passphrase");
    await page.getByRole("button", { name: "Create account" }).click();
    await page.waitForURL("**/apps");

    // Create an application with scopes, and land on its account page.
    await page.getByLabel("Application name").fill("Payments API");
    await page.getByLabel(/Scopes/).fill("read write");
    await page.getByRole("button", { name: "Create application" }).click();
    await page.waitForURL(/\/app\/app_[0-9A-Za-z]+\/account-management$/);
    await page.getByRole("heading", { name: "API Tokens" }).waitFor();
    await page.getByText("No tokens yet").waitFor();
    await screenshot(page, "account-page-empty");

    // Generate "API Testing".
    await page.getByLabel("Token name").fill("API Testing");
    await page.getByRole("checkbox", { name: "read" }).check();
    await page.getByRole("button", { name: "Generate Token" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.waitFor();
    await expect.poll(() => dialog.textContent()).toContain("will not be shown again");
    const token = await readShownToken(page);
    expect(token).toMatch(TOKEN_PATTERN);
    await screenshot(page, "show-once-dialog", { fullPage: false });

    await dialog.getByRole("button", { name: "Copy", exact: true }).click();
    await dialog.getByText("Copied to clipboard.").waitFor();
    expect(await page.evaluate("navigator.clipboard.readText()")).toBe(token);

    // The secret is nowhere but the dialog: not in storage, not in the URL.
    const storage = await page.evaluate(
      "JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])",
    );
    expect(storage).not.toContain(token);
    expect(page.url()).not.toContain(token);

    await dialog.getByRole("button", { name: "Done" }).click();
    await dialog.waitFor({ state: "hidden" });
    expect(await page.content()).not.toContain(token);

    const row = tokenRow(page, "API Testing");
    await row.waitFor();
    expect(await cellText(row, "Last used")).toBe("Never");
    expect(await cellText(row, "Status")).toContain("Active");
    expect(await cellText(row, "Name")).toContain("read");

    // A client program uses it; after the usage flush the row shows when.
    expect(await callApi(server.baseUrl, token)).toBe(200);
    await expect
      .poll(
        async () => {
          await page.reload();
          await row.waitFor();
          return cellText(row, "Last used");
        },
        { timeout: 10_000, interval: 300 },
      )
      .toBe("just now");
    const lastUsed = row.locator("time").nth(1);
    expect(await lastUsed.getAttribute("title")).toMatch(/\d{4}/);
    await expect.poll(() => cellText(row, "Requests, 30 days")).toBe("1");

    // A second token without expiry, for the screenshot and the warning.
    await page.getByLabel("Token name").fill("Nightly export");
    await page.getByLabel("Expiration", { exact: true }).selectOption("never");
    await page.getByText("This token will never expire.").waitFor();
    await page.getByRole("button", { name: "Generate Token" }).click();
    await readShownToken(page);
    await dialog.getByRole("checkbox", { name: /I have saved this token/ }).check();
    await dialog.getByRole("button", { name: "Done" }).click();
    await dialog.waitFor({ state: "hidden" });
    await tokenRow(page, "Nightly export").waitFor();
    await screenshot(page, "account-page-with-tokens");

    // Revoke, confirm: the row turns revoked without a reload, and the API refuses the token.
    await page.evaluate("window.__noReload = true");
    await row.getByRole("button", { name: "Revoke", exact: true }).click();
    await dialog.waitFor();
    await expect.poll(() => dialog.textContent()).toContain("This token is in use.");
    await screenshot(page, "revoke-dialog", { fullPage: false });
    await dialog.getByRole("button", { name: "Revoke", exact: true }).click();
    await dialog.waitFor({ state: "hidden" });
    await expect.poll(() => cellText(row, "Status")).toContain("Revoked");
    expect(await row.getByRole("button", { name: "Revoke" }).count()).toBe(0);
    expect(await page.evaluate("window.__noReload")).toBe(true);
    expect(await callApi(server.baseUrl, token)).toBe(401);

    // The plaintext never reached the console.
    expect(console.filter((line) => line.includes(token))).toEqual([]);

    // Sign out ends the session; a page that needs one sends the browser to sign in and,
    // once signed in, back where it was.
    const accountUrl = page.url();
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL("**/signin?signedOut=1");
    await page.getByText("You have signed out.").waitFor();
    await page.goto(accountUrl);
    await page.waitForURL(`**/signin?next=${encodeURIComponent(new URL(accountUrl).pathname)}`);
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill("a long enough passphrase");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(accountUrl);
    // The owner sees that something still presents the revoked token (the 401 above).
    const status = () => cellText(tokenRow(page, "API Testing"), "Status");
    await expect.poll(status).toContain("Revoked");
    expect(await status()).toContain("by its owner");
    expect(await status()).toContain("Refused 1× since revoked");
    await context.close();
  }, 60_000);

  it("regenerates without a grace period (old secret refused) and with one hour (both work)", async () => {
    const { context, page, client } = await signedInContext(browser, server.baseUrl);
    const appId = await createApp(client, "Rotation");
    const original = await createToken(client, appId, { name: "deploy-bot" });
    await page.goto(`/app/${appId}/account-management`);
    const row = tokenRow(page, "deploy-bot");
    const dialog = page.getByRole("dialog");

    await row.getByRole("button", { name: "Regenerate" }).click();
    await dialog.getByRole("radio", { name: "None" }).check();
    await dialog.getByRole("button", { name: "Regenerate token" }).click();
    const second = await readShownToken(page);
    expect(second).toMatch(TOKEN_PATTERN);
    expect(second).not.toBe(original.token);
    await expect.poll(() => dialog.textContent()).toContain("previous secret has stopped working");
    await dialog.getByRole("button", { name: "Copy", exact: true }).click();
    await dialog.getByRole("button", { name: "Done" }).click();
    await dialog.waitFor({ state: "hidden" });
    expect(await callApi(server.baseUrl, original.token)).toBe(401);
    expect(await callApi(server.baseUrl, second)).toBe(200);

    await row.getByRole("button", { name: "Regenerate" }).click();
    await dialog.getByRole("radio", { name: "1 hour" }).check();
    await dialog.getByRole("button", { name: "Regenerate token" }).click();
    const third = await readShownToken(page);
    expect(third).not.toBe(second);
    await expect.poll(() => dialog.textContent()).toContain("keeps working until");
    await dialog.getByRole("checkbox", { name: /I have saved this token/ }).check();
    await dialog.getByRole("button", { name: "Done" }).click();
    await dialog.waitFor({ state: "hidden" });
    expect(await callApi(server.baseUrl, second)).toBe(200);
    expect(await callApi(server.baseUrl, third)).toBe(200);
    // Same token, new secret: still one row, still active.
    expect(await tokenRow(page, "deploy-bot").count()).toBe(1);
    expect(await cellText(row, "Status")).toContain("Active");
    await context.close();
  }, 60_000);

  it("asks before closing the show-once dialog until the token is copied or marked saved", async () => {
    const { context, page, client } = await signedInContext(browser, server.baseUrl);
    const appId = await createApp(client, "Careful");
    await page.goto(`/app/${appId}/account-management`);
    await page.getByLabel("Token name").fill("not yet saved");
    await page.getByRole("button", { name: "Generate Token" }).click();
    const dialog = page.getByRole("dialog");
    await readShownToken(page);

    await dialog.getByRole("button", { name: "Done" }).click();
    await dialog.getByRole("heading", { name: "Close without saving the token?" }).waitFor();
    await dialog.getByRole("button", { name: "Go back to the token" }).click();
    await dialog.getByRole("button", { name: "Copy", exact: true }).waitFor();

    // Escape asks too; Escape on the question goes back to the token. Chrome turns a repeated
    // Escape into a forced close, which must not lose the token either.
    const question = dialog.getByRole("heading", { name: "Close without saving the token?" });
    await page.keyboard.press("Escape");
    await question.waitFor();
    await page.keyboard.press("Escape");
    await dialog.getByRole("button", { name: "Copy", exact: true }).waitFor();
    // Back on the token, focus is too (not on the page body behind the dialog).
    await expect
      .poll(() =>
        dialog.getByLabel(/^Token for/).evaluate((el) => el === el.ownerDocument.activeElement),
      )
      .toBe(true);
    await page.keyboard.press("Escape");
    await question.waitFor();
    expect(await dialog.isVisible()).toBe(true);
    await dialog.getByRole("button", { name: "Close anyway" }).click();
    await dialog.waitFor({ state: "hidden" });
    await tokenRow(page, "not yet saved").waitFor();
    await context.close();
  }, 60_000);

  it("shows a token named like markup as text and runs nothing", async () => {
    const xss = "<img src=x onerror=alert(1)>";
    const { context, page, client } = await signedInContext(browser, server.baseUrl);
    await createApp(client, "<script>alert(2)</script>");
    const alerts: string[] = [];
    page.on("dialog", async (d) => {
      alerts.push(d.message());
      await d.dismiss();
    });
    await page.goto("/apps");
    await page.getByRole("link", { name: /<script>alert\(2\)<\/script>/ }).click();
    await page.getByRole("heading", { name: "<script>alert(2)</script>", level: 1 }).waitFor();

    await page.getByLabel("Token name").fill(xss);
    await page.getByRole("button", { name: "Generate Token" }).click();
    const dialog = page.getByRole("dialog");
    await readShownToken(page);
    await dialog.getByText(xss, { exact: true }).first().waitFor();
    await dialog.getByRole("checkbox", { name: /I have saved this token/ }).check();
    await dialog.getByRole("button", { name: "Done" }).click();

    const row = tokenRow(page, xss);
    await row.waitFor();
    expect(await row.getByRole("link").textContent()).toBe(xss);
    await row.getByRole("button", { name: "Revoke", exact: true }).click();
    await dialog.getByRole("heading", { name: `Revoke “${xss}”?` }).waitFor();
    await dialog.getByRole("button", { name: "Cancel" }).click();

    await row.getByRole("link").click();
    await page.getByRole("heading", { name: xss, level: 1 }).waitFor();

    // Defence in depth: the page's Trusted Types policy refuses markup written as a string,
    // so even a bug that reached innerHTML could not inject it.
    await expect(
      page.evaluate(`document.body.insertAdjacentHTML("beforeend", ${JSON.stringify(xss)})`),
    ).rejects.toThrow(/TrustedHTML/);
    expect(await page.locator("img").count()).toBe(0);
    expect(await page.locator("script:not([src])").count()).toBe(0);
    expect(alerts).toEqual([]);
    await context.close();
  }, 60_000);

  it("creates, copies and revokes a token with the keyboard alone", async () => {
    const { context, page, client } = await signedInContext(browser, server.baseUrl);
    const appId = await createApp(client, "Keyboard");
    await page.goto(`/app/${appId}/account-management`);
    await page.getByRole("heading", { name: "API Tokens" }).waitFor();

    await tabTo(page, (d) => d.endsWith(":Token name"));
    await page.keyboard.type("typed with keys");
    await page.keyboard.press("Tab");
    expect(await activeElementDescription(page)).toMatch(/^SELECT:.*:Expiration$/);
    await page.keyboard.press("ArrowUp"); // 30 days → 7 days
    await tabTo(page, (d) => d.startsWith("BUTTON:Generate Token"));
    await page.keyboard.press("Enter");

    const dialog = page.getByRole("dialog");
    const token = await readShownToken(page);
    expect(token).toMatch(TOKEN_PATTERN);
    // Focus starts on the token itself (a read-only field that wraps), inside the dialog.
    expect(await activeElementDescription(page)).toMatch(/^TEXTAREA:.*Token for/);
    await page.keyboard.press("Tab");
    expect(await activeElementDescription(page)).toMatch(/^BUTTON:Copy/);
    await page.keyboard.press("Enter");
    await dialog.getByText("Copied to clipboard.").waitFor();
    expect(await page.evaluate("navigator.clipboard.readText()")).toBe(token);
    // Copied, so Escape closes at once; focus returns to the button that opened the dialog.
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "hidden" });
    expect(await activeElementDescription(page)).toMatch(/^BUTTON:Generate Token/);

    const row = tokenRow(page, "typed with keys");
    await row.waitFor();
    expect(await cellText(row, "Expires")).toBe("in 7 days");

    // Revoke with the keyboard: Escape cancels and gives focus back; then confirm.
    await tabTo(page, (d) => d === "BUTTON:Revoke:");
    await page.keyboard.press("Enter");
    await dialog.waitFor();
    expect(await activeElementDescription(page)).toMatch(/^BUTTON:Cancel/);
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "hidden" });
    expect(await activeElementDescription(page)).toBe("BUTTON:Revoke:");
    await page.keyboard.press("Enter");
    await dialog.waitFor();
    await page.keyboard.press("Tab");
    expect(await activeElementDescription(page)).toMatch(/^BUTTON:Revoke/);
    await page.keyboard.press("Enter");
    await dialog.waitFor({ state: "hidden" });
    await expect.poll(() => cellText(row, "Status")).toContain("Revoked");
    // The Revoke button is gone with the row's active state; focus lands on the token's name.
    expect(await activeElementDescription(page)).toBe("A:typed with keys:");
    expect(await callApi(server.baseUrl, token)).toBe(401);
    await context.close();
  }, 60_000);

  it("shows inline errors next to the field for a taken name", async () => {
    const { context, page, client } = await signedInContext(browser, server.baseUrl);
    const appId = await createApp(client, "Errors");
    await createToken(client, appId, { name: "ci" });
    await page.goto(`/app/${appId}/account-management`);
    await page.getByLabel("Token name").fill("ci");
    await page.getByRole("button", { name: "Generate Token" }).click();
    const field = page.getByLabel("Token name");
    await expect.poll(() => field.getAttribute("aria-invalid")).toBe("true");
    const errorId = (await field.getAttribute("aria-describedby"))?.split(" ").at(-1);
    const error = page.locator(`[id="${errorId}"]`);
    expect(await error.textContent()).toContain("You already have an active token named “ci”");
    expect(await page.getByRole("dialog").count()).toBe(0);
    await context.close();
  }, 60_000);
});
