// Issue 13: per-token address allowlists on the create form and the token page.
import type { Browser } from "playwright-core";
import { describe, expect, it } from "vitest";
import { createApp, type TestServer } from "../src/test-support/harness.js";
import {
  callApi,
  readShownToken,
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

describe("allowed addresses", () => {
  it("are set on the create form, shown and changed on the token page, and enforced", async () => {
    const { context, page, client } = await signedInContext(browser, server.baseUrl);
    const appId = await createApp(client, "Pinned");
    await page.goto(`/app/${appId}/account-management`);
    await page.getByLabel("Token name").fill("office only");
    await page.getByLabel("Allowed addresses (optional)").fill("203.0.113.0/24, 198.51.100.7");
    await page.getByRole("button", { name: "Generate Token" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.waitFor();
    const token = await readShownToken(page);
    await dialog.getByRole("button", { name: "Copy", exact: true }).click();
    await dialog.getByText("Copied to clipboard.").waitFor();
    await dialog.getByRole("button", { name: "Done" }).click();
    await dialog.waitFor({ state: "hidden" });
    // From here (127.0.0.1) it is refused like an invalid token.
    expect(await callApi(server.baseUrl, token)).toBe(401);

    await tokenRow(page, "office only").getByRole("link", { name: "office only" }).click();
    await page.locator(".chip", { hasText: "203.0.113.0/24" }).waitFor();
    // Its refusal from here is in the token's activity, with the address.
    await page.getByRole("row").filter({ hasText: "127.0.0.1" }).first().waitFor();
    await page.getByRole("button", { name: "Change allowed addresses" }).click();
    await page.getByLabel("Allowed addresses", { exact: true }).fill("not an address");
    await page.getByRole("button", { name: "Save addresses" }).click();
    await page.getByRole("alert").filter({ hasText: "not an IPv4 or IPv6 address" }).waitFor();
    await page.getByLabel("Allowed addresses", { exact: true }).fill("127.0.0.1");
    await page.getByRole("button", { name: "Save addresses" }).click();
    await page.locator(".chip", { hasText: /^127\.0\.0\.1$/ }).waitFor();
    await page.getByRole("button", { name: "Change allowed addresses" }).waitFor();
    expect(await callApi(server.baseUrl, token)).toBe(200);
    await context.close();
  });
});
