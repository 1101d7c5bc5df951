// Two-factor authentication in the browser: set up from the Security page (QR code drawn
// locally, the key in text, recovery codes shown once and downloadable), then the second
// sign-in step on the sign-in page and in the in-place sign-in dialog.
import { readFileSync } from "node:fs";
import { Secret, TOTP } from "otpauth";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../src/test-support/clock.js";
import { Client, startTestServer, type TestServer } from "../src/test-support/harness.js";
import {
  assertUiBuilt,
  expectNoSeriousA11yViolations,
  launchBrowser,
  screenshot,
  signedInContext,
  signInAgainDialog,
  TEST_USER_PASSWORD,
} from "./support.js";

let server: TestServer;
let browser: Browser;
// Codes come from the server's clock, moved by the test: a new code never waits 30 s.
const clock = new ManualClock();
const STEP_MS = 30_000;

beforeAll(async () => {
  assertUiBuilt();
  [server, browser] = await Promise.all([startTestServer({}, { clock }), launchBrowser()]);
});
afterAll(async () => {
  await browser?.close();
  await server?.close();
});

/** axe-core is injected as a script, which the UI's Content-Security-Policy would refuse. */
const axeContext = { bypassCSP: true };

function codeFor(secret: string): string {
  return new TOTP({ secret: Secret.fromBase32(secret) }).generate({ timestamp: clock.now() });
}

/** Sets two-factor up on the Security page; returns the secret read from the page and the codes. */
async function enrollInUi(
  page: Page,
  { a11y }: { a11y: boolean },
): Promise<{ secret: string; recoveryCodes: string[] }> {
  await page.goto("/security");
  const section = page.getByRole("region", { name: "Two-factor authentication" });
  await section.getByRole("button", { name: "Set up two-factor authentication" }).click();
  const qr = section.getByRole("img", { name: /QR code/ });
  await qr.waitFor();
  // Drawn here, from the otpauth:// URL: a data URL, not a request to a QR service.
  expect(await qr.getAttribute("src")).toMatch(/^data:image\/png;base64,/);
  const secret = ((await section.locator("[data-secret]").textContent()) ?? "").replace(/\s/g, "");
  expect(secret).toMatch(/^[A-Z2-7]{32}$/);
  if (a11y) await screenshot(page, "two-factor-enroll");

  await section
    .getByLabel("Code from the app")
    .fill(codeFor(secret) === "000000" ? "111111" : "000000");
  await section.getByRole("button", { name: "Turn on" }).click();
  await section.getByText("That code is not right.").waitFor();
  await section.getByLabel("Code from the app").fill(codeFor(secret));
  await section.getByRole("button", { name: "Turn on" }).click();

  const codes = section.getByRole("textbox", { name: "Recovery codes" });
  await codes.waitFor();
  const recoveryCodes = (await codes.inputValue()).split("\n");
  expect(recoveryCodes).toHaveLength(10);
  if (a11y) {
    await screenshot(page, "two-factor-recovery-codes");
    await expectNoSeriousA11yViolations(page, "the recovery codes");
  }
  // Done waits until the codes are saved: downloaded here, as a text file.
  expect(await section.getByRole("button", { name: "Done" }).isDisabled()).toBe(true);
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    section.getByRole("button", { name: "Download as a text file" }).click(),
  ]);
  expect(download.suggestedFilename()).toBe("keyward-recovery-codes.txt");
  const file = readFileSync((await download.path()) ?? "", "utf8");
  for (const code of recoveryCodes) expect(file).toContain(code);
  await section.getByRole("button", { name: "Done" }).click();
  await section.getByText("10 recovery codes left.").waitFor();
  // The code that confirmed is spent: the next sign-in uses the app's next code.
  clock.advance(STEP_MS);
  return { secret, recoveryCodes };
}

describe("two-factor authentication", () => {
  it("is set up on the Security page, then signing in asks for the code as a second step", async () => {
    const { context, page, user } = await signedInContext(browser, server.baseUrl, "Ada", {
      ...axeContext,
      acceptDownloads: true,
    });
    const { secret } = await enrollInUi(page, { a11y: true });

    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL("**/signin?signedOut=1");
    await page.getByLabel("Email").fill(user.email);
    await page.getByLabel("Password").fill(TEST_USER_PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    const code = page.getByLabel("Two-factor code");
    await code.waitFor();
    await expect
      .poll(() => page.evaluate('document.activeElement?.getAttribute("autocomplete")'))
      .toBe("one-time-code");
    await screenshot(page, "two-factor-sign-in");
    await expectNoSeriousA11yViolations(page, "the sign-in code step");
    await code.fill("123");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByText("That code is not right").waitFor();
    await code.fill(codeFor(secret));
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL("**/apps");
    await context.close();
  });

  it("the in-place sign-in dialog asks for the code too; turning it off takes a recovery code", async () => {
    const { context, page, user } = await signedInContext(browser, server.baseUrl, "Grace", {
      acceptDownloads: true,
    });
    // The UI's own Content-Security-Policy applies here (no axe-core): the QR code and the
    // download work under it.
    const { secret, recoveryCodes } = await enrollInUi(page, { a11y: false });
    const section = page.getByRole("region", { name: "Two-factor authentication" });
    await section.getByRole("button", { name: "Turn off two-factor authentication" }).click();
    await section.getByLabel("Code from your app, or a recovery code").fill(recoveryCodes[0] ?? "");
    // The session ends before the request: it is held, and sent again after signing in here.
    await context.clearCookies();
    await section.getByRole("button", { name: "Turn off" }).click();
    const dialog = signInAgainDialog(page);
    await dialog.waitFor();
    await dialog.getByLabel("Password").fill(TEST_USER_PASSWORD);
    await dialog.getByRole("button", { name: "Sign in" }).click();
    await dialog.getByLabel("Two-factor code").fill(codeFor(secret));
    await dialog.getByRole("button", { name: "Sign in" }).click();
    await dialog.waitFor({ state: "hidden" });
    // The held request went through (a fresh sign-in counts as a recent password).
    await section.getByText("Your password alone signs in.").waitFor();
    const signIn = await new Client(server.baseUrl).post("/api/v1/auth/signin", {
      email: user.email,
      password: TEST_USER_PASSWORD,
    });
    expect(signIn.status).toBe(200);
    await context.close();
  });
});
