// Issue 11: the application settings page in real Chromium against a real server. An owner
// creates a service key (shown once, copied, listed by its hint), sees it used, revokes it
// after a confirmation; sets return origins (a refused origin is reported in place) and
// branding; a member finds no way in.
import type { Browser, Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import type { Application } from "../src/contract/index.js";
import {
  addMember,
  createApp,
  serviceClient,
  signUpUser,
  type TestServer,
} from "../src/test-support/harness.js";
import {
  addSessionCookie,
  cellText,
  expectNoSeriousA11yViolations,
  newContext,
  screenshot,
  signedInContext,
  startServerAndBrowser,
} from "./support.js";

let server: TestServer;
let browser: Browser;

startServerAndBrowser((started, launched) => {
  server = started;
  browser = launched;
});

/** axe-core is injected as a script, which the UI's Content-Security-Policy would refuse. */
const axeContext = { bypassCSP: true };
const SERVICE_KEY_PATTERN = /^kwsk_[0-9A-Za-z]{36}$/;

function keyRow(page: Page, name: string) {
  return page
    .getByRole("table", { name: "Service keys" })
    .getByRole("row")
    .filter({ has: page.getByRole("rowheader", { name: new RegExp(`^${name}`) }) });
}

describe("the application settings page", () => {
  it("owner: creates a service key shown once, copies it, sees it listed and used, revokes it", async () => {
    const { context, page, client } = await signedInContext(
      browser,
      server.baseUrl,
      "Ada Lovelace",
      axeContext,
    );
    const appId = await createApp(client, "Acme API");
    await page.goto(`/app/${appId}/account-management`);
    await page.getByRole("link", { name: "Application settings" }).click();
    await page.waitForURL(`**/app/${appId}/settings`);
    await page.getByRole("heading", { name: "Service keys" }).waitFor();
    await page.getByText("No service keys yet").waitFor();
    await expectNoSeriousA11yViolations(page, "the settings page");

    await page.getByLabel("Service key name").fill("backend");
    await page.getByRole("button", { name: "Create service key" }).click();
    const dialog = page.getByRole("dialog", { name: "Copy your new service key" });
    await dialog.waitFor();
    expect(await dialog.textContent()).toContain("will not be shown again");
    const key = await dialog.getByLabel("Service key for backend").inputValue();
    expect(key).toMatch(SERVICE_KEY_PATTERN);
    await screenshot(page, "service-key-dialog", { fullPage: false });
    await expectNoSeriousA11yViolations(page, "the service key dialog");

    // Closing before copying asks first, as for tokens.
    await dialog.getByRole("button", { name: "Done" }).click();
    await page.getByRole("dialog", { name: "Close without saving the service key?" }).waitFor();
    await page.getByRole("button", { name: "Go back to the service key" }).click();
    await dialog.getByRole("button", { name: "Copy", exact: true }).click();
    await dialog.getByText("Copied to clipboard.").waitFor();
    expect(await page.evaluate("navigator.clipboard.readText()")).toBe(key);
    await dialog.getByRole("button", { name: "Done" }).click();
    await dialog.waitFor({ state: "hidden" });
    expect(await page.content()).not.toContain(key);

    const row = keyRow(page, "backend");
    await row.waitFor();
    expect(await cellText(row, "Name")).toContain(`kwsk_…${key.slice(-4)}`);
    expect(await cellText(row, "Last used")).toBe("Never");
    expect(await cellText(row, "Status")).toContain("Active");

    // The host's backend uses it; the list shows when once the use is written.
    const service = serviceClient(server.baseUrl, key);
    expect((await service("PUT", "/api/v1/service/users/u-1", {})).status).toBe(201);
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
    await screenshot(page, "settings-page");

    await row.getByRole("button", { name: "Revoke" }).click();
    const confirm = page.getByRole("dialog", { name: "Revoke “backend”?" });
    await confirm.waitFor();
    expect(await confirm.textContent()).toContain("This key is in use.");
    await confirm.getByRole("button", { name: "Revoke", exact: true }).click();
    await confirm.waitFor({ state: "hidden" });
    await expect.poll(() => cellText(row, "Status")).toContain("Revoked");
    expect(await row.getByRole("button", { name: "Revoke" }).count()).toBe(0);
    expect((await service("GET", "/api/v1/service/users/u-1")).status).toBe(401);
    await context.close();
  });

  it("owner: sets return origins (a bad one is reported in place) and branding, then removes it", async () => {
    const { context, page, client } = await signedInContext(
      browser,
      server.baseUrl,
      "Ada Lovelace",
      axeContext,
    );
    const appId = await createApp(client, "Acme API");
    const application = async () =>
      (await client.get<Application>(`/api/v1/applications/${appId}`)).body;
    await page.goto(`/app/${appId}/settings`);

    const origins = page.getByRole("textbox", { name: "Return origins" });
    await origins.fill("https://app.example.com/settings");
    await page.getByRole("button", { name: "Save return origins" }).click();
    const refused = page.getByRole("alert").filter({ hasText: "scheme, host and optional port" });
    await refused.waitFor();
    expect(await origins.getAttribute("aria-invalid")).toBe("true");
    expect(await origins.inputValue()).toBe("https://app.example.com/settings");
    expect((await application()).returnOrigins).toEqual([]);
    await expectNoSeriousA11yViolations(page, "a refused return origin");

    await origins.fill("https://App.Example.com/\n\n  http://localhost:8080  ");
    await page.getByRole("button", { name: "Save return origins" }).click();
    await page.getByText("Return origins saved.").waitFor();
    await refused.waitFor({ state: "detached" });
    expect(await origins.inputValue()).toBe("https://app.example.com\nhttp://localhost:8080");
    expect((await application()).returnOrigins).toEqual([
      "https://app.example.com",
      "http://localhost:8080",
    ]);

    // Branding: a name, and a colour from the picker or typed as hex.
    await page.getByLabel("Display name").fill("Acme");
    await page.getByLabel("Accent colour", { exact: true }).fill("#00aa55");
    expect(await page.getByLabel("Accent colour, hex").inputValue()).toBe("#00aa55");
    await page.getByLabel("Accent colour, hex").fill("#AA3300");
    expect(await page.getByLabel("Accent colour", { exact: true }).inputValue()).toBe("#aa3300");
    await page.getByRole("button", { name: "Save branding" }).click();
    await page.getByText("Branding saved.").waitFor();
    expect((await application()).branding).toEqual({
      displayName: "Acme",
      accentColor: "#aa3300",
    });
    await screenshot(page, "settings-branding");

    // A bad colour never leaves the page.
    await page.getByLabel("Accent colour, hex").fill("red");
    await page.getByRole("button", { name: "Save branding" }).click();
    await page.getByText("Write the colour as # and six hex digits").waitFor();
    expect((await application()).branding?.accentColor).toBe("#aa3300");

    await page.getByRole("button", { name: "Remove branding" }).click();
    await page.getByText("Branding removed.").waitFor();
    expect((await application()).branding).toBeNull();
    expect(await page.getByLabel("Display name").inputValue()).toBe("");
    await context.close();
  });

  it("a member sees no settings link and is told at the URL that settings are not theirs", async () => {
    const { client } = await signUpUser(server.baseUrl, "Olive Owner");
    const appId = await createApp(client, "Team app");
    const member = await addMember(client, appId, "member");
    const context = await newContext(browser, server.baseUrl, axeContext);
    await addSessionCookie(context, member.client, server.baseUrl);
    const page = await context.newPage();
    await page.goto(`/app/${appId}/account-management`);
    await page.getByRole("heading", { name: "API Tokens" }).waitFor();
    expect(await page.getByRole("link", { name: "Application settings" }).count()).toBe(0);

    await page.goto(`/app/${appId}/settings`);
    await page.getByRole("heading", { name: "Settings not available" }).waitFor();
    expect(await page.getByLabel("Service key name").count()).toBe(0);
    await expectNoSeriousA11yViolations(page, "settings, as a member");

    // Someone outside the application learns nothing about it.
    const outsider = await signedInContext(browser, server.baseUrl, "Eve Outsider");
    await outsider.page.goto(`/app/${appId}/settings`);
    await outsider.page.getByRole("heading", { name: "Application not found" }).waitFor();
    await outsider.context.close();
    await context.close();
  });
});
