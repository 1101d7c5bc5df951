// Shared pieces of the browser tests: one Chromium per spec file, a real server per file,
// sign-in by cookie for speed where signing up in the UI is not what a test is about.
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  type Browser,
  type BrowserContext,
  type BrowserContextOptions,
  chromium,
  type Locator,
  type Page,
} from "playwright-core";
import { afterAll, beforeAll, expect } from "vitest";
import {
  type Client,
  signUpUser,
  startTestServer,
  type TestServer,
} from "../src/test-support/harness.js";

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..");
export const webRoot = join(repoRoot, "dist", "web");
export const screenshotDir = join(repoRoot, "artifacts", "screenshots");
const axePath = join(repoRoot, "node_modules", "axe-core", "axe.min.js");

/** The browser tests drive the built UI; say how to build it instead of failing obscurely. */
export function assertUiBuilt(): void {
  if (!existsSync(join(webRoot, "index.html"))) {
    throw new Error(
      `The web UI is not built (${webRoot}/index.html is missing). Run \`npm run build\` ` +
        "(npm test runs it first, in pretest), then run the browser tests again.",
    );
  }
}

/**
 * A spec file's server and Chromium: started together before its tests (after checking the
 * UI is built), handed to `onReady`, and closed after them.
 */
export function startServerAndBrowser(
  onReady: (server: TestServer, browser: Browser) => void,
): void {
  let server: TestServer | undefined;
  let browser: Browser | undefined;
  beforeAll(async () => {
    assertUiBuilt();
    [server, browser] = await Promise.all([startTestServer(), launchBrowser()]);
    onReady(server, browser);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

export async function newContext(
  browser: Browser,
  baseUrl: string,
  options: BrowserContextOptions = {},
): Promise<BrowserContext> {
  const context = await browser.newContext({
    baseURL: baseUrl,
    viewport: { width: 1360, height: 900 },
    locale: "en-US",
    timezoneId: "UTC",
    reducedMotion: "reduce",
    ...options,
  });
  context.setDefaultTimeout(15_000);
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: baseUrl });
  return context;
}

/** A new user signed up over the API, and a browser context holding their session cookie. */
export async function signedInContext(
  browser: Browser,
  baseUrl: string,
  name = "Ada Lovelace",
  options: BrowserContextOptions = {},
): Promise<{
  context: BrowserContext;
  page: Page;
  client: Client;
  user: { id: string; email: string };
}> {
  const { client, user } = await signUpUser(baseUrl, name);
  const context = await newContext(browser, baseUrl, options);
  await addSessionCookie(context, client, baseUrl);
  const page = await context.newPage();
  return { context, page, client, user };
}

export async function addSessionCookie(context: BrowserContext, client: Client, baseUrl: string) {
  const [cookieName, ...rest] = client.cookie.split("=");
  if (!cookieName || rest.length === 0) throw new Error("the client holds no session cookie");
  await context.addCookies([{ name: cookieName, value: rest.join("="), url: baseUrl }]);
}

/** Runs axe-core in the page; fails on any serious or critical violation, naming each one. */
export async function expectNoSeriousA11yViolations(page: Page, where: string): Promise<void> {
  // Once per document: client-side navigation keeps it loaded.
  if (!(await page.evaluate("typeof axe !== 'undefined'"))) {
    await page.addScriptTag({ path: axePath });
  }
  const { violations, rulesPassed } = await page.evaluate(async () => {
    // Runs in the page; `globalThis` there is the window axe-core attached itself to.
    const axe = (globalThis as unknown as { axe: AxeLike }).axe;
    const result = await axe.run({ resultTypes: ["violations"] });
    const violations = result.violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        targets: v.nodes.slice(0, 5).map((n) => n.target.join(" ")),
      }));
    return { violations, rulesPassed: result.passes.length };
  });
  // A run that checked nothing would pass vacuously.
  expect(rulesPassed, `axe ran no rules on ${where}`).toBeGreaterThan(10);
  expect(violations, `axe violations on ${where}`).toEqual([]);
}

interface AxeLike {
  run(options: { resultTypes: string[] }): Promise<{
    passes: unknown[];
    violations: Array<{
      id: string;
      impact: string | null;
      help: string;
      nodes: Array<{ target: string[] }>;
    }>;
  }>;
}

/** Saves a PNG for reviewers; the whole page, or the viewport when a dialog is open over it. */
export async function screenshot(
  page: Page,
  name: string,
  options: { fullPage?: boolean } = {},
): Promise<void> {
  mkdirSync(screenshotDir, { recursive: true });
  await page.screenshot({
    path: join(screenshotDir, `${name}.png`),
    fullPage: options.fullPage ?? true,
    animations: "disabled",
    // A blinking caret must not make two runs' pictures differ.
    caret: "hide",
  });
}

/** Saves a PNG of one part of the page (a section), for reviewers. */
export async function screenshotOf(locator: Locator, name: string): Promise<void> {
  mkdirSync(screenshotDir, { recursive: true });
  await locator.screenshot({
    path: join(screenshotDir, `${name}.png`),
    animations: "disabled",
    caret: "hide",
  });
}

/** The text of a row's cell under the given column header. */
export async function cellText(row: Locator, header: string): Promise<string> {
  const table = row.locator("xpath=ancestor::table[1]");
  const headers = (await table.locator("thead th").allTextContents()).map((h) => h.trim());
  const index = headers.indexOf(header);
  if (index < 0) throw new Error(`no column "${header}" in ${JSON.stringify(headers)}`);
  // innerText: what is shown, without the SVG <title> text of the usage chart.
  // biome-ignore lint/performance/useDomNodeTextContent: textContent would include that title.
  return (await row.locator(":scope > th, :scope > td").nth(index).innerText()).trim();
}

export function tokenRow(page: Page, name: string): Locator {
  return page
    .getByRole("table", { name: /tokens/i })
    .getByRole("row")
    .filter({ has: page.getByRole("link", { name, exact: true }) });
}

/** GET /api with a bearer token, as a client program would. */
export async function callApi(baseUrl: string, token: string): Promise<number> {
  const response = await fetch(`${baseUrl}/api`, { headers: { authorization: `Bearer ${token}` } });
  await response.arrayBuffer();
  return response.status;
}

/** Reads the plaintext from the open show-once dialog. */
export async function readShownToken(page: Page): Promise<string> {
  const dialog = page.getByRole("dialog");
  await dialog.waitFor();
  return dialog.getByLabel(/^Token for/).inputValue();
}

export const TOKEN_PATTERN = /^kw_[0-9A-Za-z]{36}$/;

/** The password signUpUser (src/test-support/harness.ts) gives every user it signs up. */
export const TEST_USER_PASSWORD = "correct horse battery staple";

/** The in-place sign-in dialog shown when a session ends while a page is open. */
export function signInAgainDialog(page: Page): Locator {
  return page.getByRole("dialog", { name: "Sign in to continue" });
}

/** Signs in again through the in-place dialog and waits for it to go. */
export async function signInAgainInPlace(page: Page, password = TEST_USER_PASSWORD): Promise<void> {
  const dialog = signInAgainDialog(page);
  await dialog.waitFor();
  await dialog.getByLabel("Password").fill(password);
  await dialog.getByRole("button", { name: "Sign in" }).click();
  await dialog.waitFor({ state: "hidden" });
}

/** Fills Token name and presses Generate Token; returns the secret the show-once dialog shows. */
export async function generateTokenInUi(page: Page, name: string): Promise<string> {
  await page.getByLabel("Token name").fill(name);
  await page.getByRole("button", { name: "Generate Token" }).click();
  const dialog = page.getByRole("dialog", { name: "Copy your new API token" });
  await dialog.waitFor();
  return dialog.getByLabel(/^Token for/).inputValue();
}
