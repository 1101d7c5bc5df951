// The API reference at /docs, in a real browser: Swagger UI renders the OpenAPI document
// under the page's strict CSP, and nothing is fetched from another origin.
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../src/test-support/harness.js";
import { launchBrowser, newContext, screenshotDir } from "./support.js";

let server: TestServer;
let browser: Browser;

beforeAll(async () => {
  server = await startTestServer();
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe("the API reference page", () => {
  it("renders every operation from this server alone, with no CSP violation", async () => {
    const context = await newContext(browser, server.baseUrl);
    const page = await context.newPage();
    const foreign: string[] = [];
    const violations: string[] = [];
    page.on("request", (request) => {
      if (!request.url().startsWith(server.baseUrl) && !request.url().startsWith("data:")) {
        foreign.push(request.url());
      }
    });
    page.on("console", (message) => {
      if (/Content Security Policy|Refused to/i.test(message.text())) {
        violations.push(message.text());
      }
    });

    await page.goto("/docs");
    await page.getByRole("heading", { name: /Keyward API/ }).waitFor();
    // Every tag's section, and an operation of each kind of authentication.
    for (const tag of ["accounts", "applications", "tokens", "audit", "verification"]) {
      await expect(page.locator(`#operations-tag-${tag}`).count()).resolves.toBe(1);
    }
    await page.locator("#operations-tokens-createToken").waitFor();
    await page.locator("#operations-protected_API-whoAmI").waitFor();
    await page.screenshot({ path: `${screenshotDir}/docs.png` });

    expect(foreign).toEqual([]);
    expect(violations).toEqual([]);
    await context.close();
  });
});
