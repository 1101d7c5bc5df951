// "Forgot password?" in real Chromium against a real server that sends email to a real SMTP
// server started here: the link arrives by email, opens the reset page, sets a password
// that signs in. And the address confirmation link, opened in a browser.
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signUpUser, startTestServer, type TestServer } from "../src/test-support/harness.js";
import { SmtpInbox } from "../src/test-support/smtp-inbox.js";
import { assertUiBuilt, launchBrowser, newContext } from "./support.js";

const inbox = new SmtpInbox();
let server: TestServer;
let browser: Browser;

beforeAll(async () => {
  assertUiBuilt();
  await inbox.start();
  [server, browser] = await Promise.all([
    startTestServer({ SMTP_URL: inbox.url, MAIL_FROM: "keys@example.com" }),
    launchBrowser(),
  ]);
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await inbox.stop();
});

/** The link in an email's text. */
function linkIn(text: string): string {
  const match = /(https?:\/\/\S+#code=[0-9A-Za-z]+)/.exec(text);
  if (!match?.[1]) throw new Error(`no link in: ${text}`);
  return match[1];
}

describe("email links in the browser", () => {
  it('"Forgot password?" → the emailed link → a new password → sign in with it', async () => {
    const { user } = await signUpUser(server.baseUrl);
    const context = await newContext(browser, server.baseUrl);
    const page = await context.newPage();

    await page.goto("/signin");
    await page.getByRole("link", { name: "Forgot password?" }).click();
    await page.waitForURL("**/forgot-password");
    await page.getByLabel("Email").fill(user.email);
    await page.getByRole("button", { name: "Email me a reset link" }).click();
    await page.getByRole("status").getByText("we have emailed it a link").waitFor();

    const [mail] = await inbox.waitFor(user.email, /Reset your password/);
    const link = linkIn(mail?.text ?? "");
    expect(link.startsWith(`${server.baseUrl}/reset-password#code=`)).toBe(true);
    await page.goto(link);
    // The code leaves the address bar (and history) once read.
    await expect.poll(() => page.url()).toBe(`${server.baseUrl}/reset-password`);
    await page.getByLabel("New password").fill("a freshly chosen passphrase");
    await page.getByRole("button", { name: "Set new password" }).click();
    await page.waitForURL("**/signin?passwordReset=1");

    await page.getByLabel("Email").fill(user.email);
    await page.getByLabel("Password").fill("a freshly chosen passphrase");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL("**/apps");

    // The same link a second time: used up.
    await page.goto(link);
    await page.getByLabel("New password").fill("another passphrase here");
    await page.getByRole("button", { name: "Set new password" }).click();
    await page.getByText("expired or was already used").waitFor();
    await context.close();
  });

  it("the confirmation link confirms the address with one click", async () => {
    const { user } = await signUpUser(server.baseUrl);
    const [mail] = await inbox.waitFor(user.email, /Confirm your email/);
    const context = await newContext(browser, server.baseUrl);
    const page = await context.newPage();
    await page.goto(linkIn(mail?.text ?? ""));
    await page.getByRole("button", { name: "Confirm my email address" }).click();
    await page.getByText("Your email address is confirmed").waitFor();
    await context.close();
  });
});
