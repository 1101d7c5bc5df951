// axe-core in real Chromium on every page and every dialog of the UI: no serious or
// critical violation anywhere. Also screenshots of the pages not covered elsewhere.
import type { Browser, Page } from "playwright-core";
import { describe, it } from "vitest";
import {
  createToken,
  inviteAndAccept,
  signUpUser,
  type TestServer,
} from "../src/test-support/harness.js";
import {
  expectNoSeriousA11yViolations,
  newContext,
  readShownToken,
  screenshot,
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

// axe-core is injected as a script, which the UI's CSP (script-src 'self', Trusted Types)
// rightly refuses; these contexts bypass the CSP so axe can run. Everything else is unchanged.
const axeContext = { bypassCSP: true };

async function check(page: Page, where: string) {
  await expectNoSeriousA11yViolations(page, where);
}

describe("accessibility (axe-core, serious and critical)", () => {
  it("sign-up, sign-in and not-found pages, with and without errors", async () => {
    const context = await newContext(browser, server.baseUrl, axeContext);
    const page = await context.newPage();
    const { user } = await signUpUser(server.baseUrl);

    await page.goto("/signup");
    await page.getByRole("heading", { name: "Create your account" }).waitFor();
    await check(page, "sign-up page");
    await screenshot(page, "signup");
    await page.getByLabel("Name").fill("Dup");
    await page.getByLabel("Email").fill(user.email);
    await page.getByLabel("Password").fill("long enough password");
    await page.getByRole("button", { name: "Create account" }).click();
    await page.getByText("already exists").waitFor();
    await check(page, "sign-up page with an error");

    await page.goto("/signin");
    await page.getByRole("heading", { name: "Sign in to Keyward" }).waitFor();
    await check(page, "sign-in page");
    await page.getByLabel("Email").fill(user.email);
    await page.getByLabel("Password").fill("wrong password!");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("alert").waitFor();
    await check(page, "sign-in page with an error");

    await page.getByRole("link", { name: "Forgot password?" }).click();
    await page.getByRole("heading", { name: "Reset your password" }).waitFor();
    await check(page, "forgot-password page");
    await page.goto("/reset-password#code=not-a-real-code");
    await page.getByLabel("New password").fill("long enough password");
    await page.getByRole("button", { name: "Set new password" }).click();
    await page.getByText("expired or was already used").waitFor();
    await check(page, "reset-password page with an error");
    await page.goto("/confirm-email#code=not-a-real-code");
    await page.getByRole("button", { name: "Confirm my email address" }).waitFor();
    await check(page, "confirm-email page");

    await page.goto("/no/such/page");
    await page.getByRole("heading", { name: "Page not found" }).waitFor();
    await check(page, "not-found page");
    await context.close();
  }, 60_000);

  it("applications, account page, token detail and every dialog", async () => {
    const { context, page, client } = await signedInContext(
      browser,
      server.baseUrl,
      "Ada Lovelace",
      axeContext,
    );
    const { client: memberClient, user: member } = await signUpUser(server.baseUrl, "Bo Member");

    await page.goto("/apps");
    await page.getByText("No applications yet").waitFor();
    await check(page, "applications page, empty");

    const created = await client.post<{ id: string }>("/api/v1/applications", {
      name: "Accessible app",
      scopes: ["read", "write"],
    });
    const appId = created.body.id;
    await inviteAndAccept(client, appId, memberClient, member.email, "admin");
    await createToken(client, appId, { name: "used token", scopes: ["read"] });
    await createToken(memberClient, appId, { name: "member token" });
    const revoked = await createToken(client, appId, { name: "old token" });
    await client.delete(`/api/v1/applications/${appId}/tokens/${revoked.id}`);

    await page.goto("/apps");
    await page.getByRole("link", { name: /Accessible app/ }).waitFor();
    await check(page, "applications page");
    await screenshot(page, "applications");

    await page.goto(`/app/${appId}/account-management`);
    await tokenRow(page, "used token").waitFor();
    await page.getByLabel("Expiration", { exact: true }).selectOption("never");
    await check(page, "account page (tokens, revoked row, no-expiry warning, members)");
    await page.getByLabel("Expiration", { exact: true }).selectOption("custom");
    await check(page, "account page with the date field");
    await page.getByLabel("Expiration", { exact: true }).selectOption("30");

    await page.getByRole("radio", { name: "All members" }).check();
    await tokenRow(page, "member token").waitFor();
    await check(page, "account page, everyone's tokens");
    await page.getByRole("radio", { name: "Your tokens" }).check();
    await tokenRow(page, "used token").waitFor();

    const dialog = page.getByRole("dialog");
    await page.getByLabel("Token name").fill("fresh token");
    await page.getByRole("button", { name: "Generate Token" }).click();
    await readShownToken(page);
    await check(page, "show-once dialog");
    await dialog.getByRole("button", { name: "Done" }).click();
    await dialog.getByRole("heading", { name: "Close without saving the token?" }).waitFor();
    await check(page, "show-once dialog, asking before closing");
    await dialog.getByRole("button", { name: "Close anyway" }).click();
    await dialog.waitFor({ state: "hidden" });

    await tokenRow(page, "used token").getByRole("button", { name: "Revoke", exact: true }).click();
    await dialog.waitFor();
    await check(page, "revoke dialog");
    await dialog.getByRole("button", { name: "Cancel" }).click();

    await tokenRow(page, "used token").getByRole("button", { name: "Regenerate" }).click();
    await dialog.waitFor();
    await check(page, "regenerate dialog");
    await dialog.getByRole("button", { name: "Cancel" }).click();

    await page.getByRole("button", { name: `Remove ${member.email}` }).click();
    await dialog.waitFor();
    await dialog.getByText(/will be revoked/).waitFor();
    await check(page, "remove-member dialog");
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await dialog.waitFor({ state: "hidden" });

    await tokenRow(page, "used token").getByRole("link").click();
    await page.getByRole("heading", { name: "used token", level: 1 }).waitFor();
    await page.getByRole("img", { name: /Requests per day/ }).waitFor();
    await page.getByText("Show as a table").click();
    await check(page, "token detail page");
    await page.goto(`/app/app_AAAAAAAAAAAAAAAAAAAA/account-management`);
    await page.getByRole("heading", { name: "Application not found" }).waitFor();
    await check(page, "application not found");
    await context.close();
  }, 90_000);
});
