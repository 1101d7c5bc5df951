// Issue 11: the whole portal flow in real Chromium, with a small host product written here. The
// host (a node:http server on its own port) has its users and a page with an "API tokens"
// link; its handler uses a service key to mirror the user into Keyward and open a portal
// session, then redirects the browser there. The user manages their tokens on Keyward's
// account page in the host's name and colour, and goes back to the host.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PortalSession } from "../src/contract/index.js";
import {
  createApp,
  createServiceKey,
  serviceClient,
  signUpUser,
  type TestServer,
} from "../src/test-support/harness.js";
import {
  addSessionCookie,
  callApi,
  cellText,
  expectNoSeriousA11yViolations,
  newContext,
  screenshot,
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

const ACCENT = "#aa3300";
const ACCENT_RGB = "rgb(170, 51, 0)";
/** axe-core is injected as a script, which the UI's Content-Security-Policy would refuse. */
const axeContext = { bypassCSP: true };

interface Host {
  origin: string;
  appId: string;
  /** Every portal link the host handed out, newest last. */
  links: string[];
  close: () => Promise<void>;
}

/**
 * The host product: `/` is its dashboard with an "API tokens" link, `/api-tokens` sends the
 * signed-in user (one fixed user here) to Keyward, `/account` is where Keyward sends them back.
 */
async function startHost(keywardUrl: string, serviceKey: string, appId: string): Promise<Host> {
  const service = serviceClient(keywardUrl, serviceKey);
  const links: string[] = [];
  const page = (title: string) =>
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title></head>` +
    `<body><main><h1>${title}</h1><a href="/api-tokens">API tokens</a></main></body></html>`;
  const http: Server = createServer((request, response) => {
    void (async () => {
      const origin = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
      if (request.url === "/api-tokens") {
        const user = await service("PUT", "/api/v1/service/users/acme-user-42", {
          email: "grace@acme.example",
          name: "Grace Host",
        });
        if (user.status !== 200 && user.status !== 201) throw new Error(user.text);
        const session = await service<PortalSession>("POST", "/api/v1/service/portal-sessions", {
          externalId: "acme-user-42",
          returnUrl: `${origin}/account`,
        });
        if (session.status !== 201) throw new Error(session.text);
        links.push(session.body.url);
        response.writeHead(303, { location: session.body.url }).end();
      } else if (request.url === "/account") {
        response.writeHead(200, { "content-type": "text/html" }).end(page("Acme account"));
      } else {
        response.writeHead(200, { "content-type": "text/html" }).end(page("Acme dashboard"));
      }
    })().catch((error: unknown) => {
      response.writeHead(500, { "content-type": "text/plain" }).end(String(error));
    });
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  return {
    origin,
    appId,
    links,
    close: () => new Promise((resolve) => http.close(() => resolve())),
  };
}

let host: Host;

beforeAll(async () => {
  // The host's team: an application with a service key, return origin and branding.
  const { client } = await signUpUser(server.baseUrl, "Olive Owner");
  const appId = await createApp(client, "Acme API");
  const key = await createServiceKey(client, appId, "acme-backend");
  host = await startHost(server.baseUrl, key.key, appId);
  const patched = await client.request("PATCH", `/api/v1/applications/${appId}`, {
    body: {
      returnOrigins: [host.origin],
      branding: { displayName: "Acme", accentColor: ACCENT },
    },
  });
  if (patched.status !== 200) throw new Error(`PATCH failed: ${patched.status} ${patched.text}`);
});

afterAll(async () => {
  await host?.close();
});

/** From the host's dashboard, "API tokens" to the account page Keyward shows. */
async function openFromHost(page: Page): Promise<void> {
  await page.goto(`${host.origin}/`);
  await page.getByRole("heading", { name: "Acme dashboard" }).waitFor();
  await page.getByRole("link", { name: "API tokens" }).click();
  await page.waitForURL(`${server.baseUrl}/app/${host.appId}/account-management`);
  await page.getByRole("heading", { name: "API Tokens" }).waitFor();
}

/** A computed style, read in the page (the spec itself has no DOM types). */
const cssOf = (page: Page, selector: string, property: string) =>
  page.evaluate<string>(
    `getComputedStyle(document.querySelector(${JSON.stringify(selector)})).getPropertyValue(${JSON.stringify(property)})`,
  );

describe("a host user through a portal link", () => {
  it("lands on their account page in the host's name and colour, manages a token, and goes back", async () => {
    const context = await newContext(browser, server.baseUrl, axeContext);
    const page = await context.newPage();
    await openFromHost(page);

    // The host's name and accent, and nothing of the team's.
    const banner = page.getByRole("banner");
    await banner.getByText("Acme", { exact: true }).waitFor();
    expect(await banner.getByRole("link", { name: /Keyward/ }).count()).toBe(0);
    const generate = page.getByRole("button", { name: "Generate Token" });
    expect(await cssOf(page, ".create-token .button-primary", "background-color")).toBe(ACCENT_RGB);
    expect(await cssOf(page, ".topbar", "box-shadow")).toContain(ACCENT_RGB);
    expect(await page.locator('a[href="/apps"]').count()).toBe(0);
    for (const absent of ["Application settings", "Sign in", "Sign up", "Create account"]) {
      expect(await page.getByRole("link", { name: absent }).count(), absent).toBe(0);
    }
    expect(await page.getByRole("heading", { name: "Members" }).count()).toBe(0);
    expect(await page.getByRole("radio", { name: "All members" }).count()).toBe(0);
    const back = page.getByRole("link", { name: "Back to Acme" });
    expect(await back.getAttribute("href")).toBe(`${host.origin}/account`);
    await expectNoSeriousA11yViolations(page, "the host user's account page");
    await screenshot(page, "portal-account-page");

    // Generate a token, copy it, and use it.
    await page.getByLabel("Token name").fill("Acme CLI");
    await generate.click();
    const dialog = page.getByRole("dialog", { name: "Copy your new API token" });
    await dialog.waitFor();
    const token = await dialog.getByLabel(/^Token for/).inputValue();
    expect(token).toMatch(TOKEN_PATTERN);
    await dialog.getByRole("button", { name: "Copy", exact: true }).click();
    await dialog.getByText("Copied to clipboard.").waitFor();
    expect(await page.evaluate("navigator.clipboard.readText()")).toBe(token);
    await screenshot(page, "portal-show-once-dialog", { fullPage: false });
    await dialog.getByRole("button", { name: "Done" }).click();
    await dialog.waitFor({ state: "hidden" });
    expect(await callApi(server.baseUrl, token)).toBe(200);

    // Revoke it.
    const row = tokenRow(page, "Acme CLI");
    await row.getByRole("button", { name: "Revoke" }).click();
    const confirm = page.getByRole("dialog", { name: /^Revoke/ });
    await confirm.getByRole("button", { name: "Revoke", exact: true }).click();
    await confirm.waitFor({ state: "hidden" });
    await expect.poll(() => cellText(row, "Status")).toContain("Revoked");
    expect(await callApi(server.baseUrl, token)).toBe(401);

    // Their own activity, with the host user as the actor.
    const activity = page.getByRole("table", { name: "Activity", exact: true });
    await activity.getByText(/revoked token “Acme CLI”/).waitFor();

    // Back to the host.
    await back.click();
    await page.waitForURL(`${host.origin}/account`);
    await page.getByRole("heading", { name: "Acme account" }).waitFor();

    // The link the host handed out worked once: opened again, it has expired.
    const used = host.links.at(-1) ?? "";
    const answer = await page.goto(used);
    expect(answer?.status()).toBe(410);
    await page.getByRole("heading", { name: "This link has expired" }).waitFor();
    await context.close();
  });

  it("stays on their one application: the applications list and other pages lead back to it", async () => {
    const context = await newContext(browser, server.baseUrl);
    const page = await context.newPage();
    await openFromHost(page);
    await page.goto("/apps");
    await page.waitForURL(`**/app/${host.appId}/account-management`);
    await page.goto(`/app/${host.appId}/settings`);
    await page.getByRole("heading", { name: "Settings not available" }).waitFor();
    await page.getByRole("link", { name: "Back to your API tokens" }).click();
    await page.getByRole("heading", { name: "API Tokens" }).waitFor();

    // Sign out goes back to the host, never to Keyward's sign-in form.
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(`${host.origin}/account`);
    await page.goto(`/app/${host.appId}/account-management`);
    await page.getByRole("heading", { name: "Your session has ended" }).waitFor();
    expect(await page.getByLabel("Password").count()).toBe(0);
    await page.getByRole("link", { name: "Back to Acme" }).waitFor();
    await context.close();
  });

  it("a browser signed in to a Keyward account is asked before the link signs it out, and can stay", async () => {
    const context = await newContext(browser, server.baseUrl);
    const { client: account } = await signUpUser(server.baseUrl, "Kay Account");
    await addSessionCookie(context, account, server.baseUrl);
    const page = await context.newPage();
    // Staying: the account's session is kept, and the link is not spent.
    await page.goto(`${host.origin}/`);
    await page.getByRole("link", { name: "API tokens" }).click();
    await page.getByRole("heading", { name: "You are signed in to a Keyward account" }).waitFor();
    await screenshot(page, "portal-signed-in-account-asked", { fullPage: false });
    await page.getByRole("link", { name: "Stay signed in" }).click();
    await page.waitForURL(`${server.baseUrl}/apps`);
    expect((await account.get("/api/v1/me")).status).toBe(200);
    const unspent = host.links.at(-1) ?? "";
    // Continuing: the page's own POST (the browser sends this origin) redeems the link.
    await page.goto(unspent);
    await page.getByRole("button", { name: "Sign out and continue" }).click();
    await page.waitForURL(`${server.baseUrl}/app/${host.appId}/account-management`);
    await page.getByRole("heading", { name: "API Tokens" }).waitFor();
    await page.getByText("Acme").first().waitFor();
    await context.close();
  });

  it("a session that ends with a secret on screen: the secret stays, and the way on is back to the host", async () => {
    const context = await newContext(browser, server.baseUrl, axeContext);
    const page = await context.newPage();
    await openFromHost(page);
    await page.getByLabel("Token name").fill("Before the end");
    await page.getByRole("button", { name: "Generate Token" }).click();
    const shown = page.getByRole("dialog", { name: "Copy your new API token" });
    const secret = await shown.getByLabel(/^Token for/).inputValue();
    const url = page.url();

    // The portal session ends (as after its hour); the next refresh finds out.
    await context.clearCookies();
    await page.evaluate("window.dispatchEvent(new Event('focus'))");
    const ended = page.getByRole("dialog", { name: "Your session has ended" });
    await ended.waitFor();
    expect(await ended.getByRole("link", { name: "Back to Acme" }).getAttribute("href")).toBe(
      `${host.origin}/account`,
    );
    expect(await page.getByLabel("Password").count()).toBe(0);
    expect(page.url()).toBe(url);
    await expectNoSeriousA11yViolations(page, "the portal session-ended dialog");
    await screenshot(page, "portal-session-ended", { fullPage: false });

    // Put away: the secret is still there to copy, with a notice pointing back to the host.
    await ended.getByRole("button", { name: "Not now" }).click();
    await ended.waitFor({ state: "hidden" });
    expect(await shown.getByLabel(/^Token for/).inputValue()).toBe(secret);
    await shown.getByRole("button", { name: "Copy", exact: true }).click();
    expect(await page.evaluate("navigator.clipboard.readText()")).toBe(secret);
    await shown.getByRole("button", { name: "Done" }).click();
    await page
      .getByRole("alert")
      .filter({ hasText: "Your session has ended" })
      .getByRole("link", { name: "Back to Acme" })
      .waitFor();
    await context.close();
  });
});
