// Issue 16 in real Chromium: an owner sets a maximum token lifetime and sees the create
// form's expiry choices change; registers a webhook (secret shown once), sees its
// deliveries, and redelivers one (the receiver gets the same webhook-id again).
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createApp,
  createToken,
  startTestServer,
  type TestServer,
} from "../src/test-support/harness.js";
import { pollUntil } from "../src/test-support/poll.js";
import { WebhookReceiver } from "../src/test-support/webhook-receiver.js";
import { assertUiBuilt, launchBrowser, signedInContext } from "./support.js";

let server: TestServer;
let browser: Browser;
const receiver = new WebhookReceiver();
let receiverUrl = "";

beforeAll(async () => {
  assertUiBuilt();
  // The receiver listens on 127.0.0.1, which deliveries may reach only when allowed.
  [server, browser, receiverUrl] = await Promise.all([
    startTestServer({ WEBHOOK_ALLOW_PRIVATE: "true" }),
    launchBrowser(),
    receiver.listen(),
  ]);
});
afterAll(async () => {
  await browser?.close();
  await server?.close();
  await receiver.close();
});

describe("token policy and webhooks on the settings page", () => {
  it("a maximum lifetime changes the create form's choices; a webhook's delivery is redelivered", async () => {
    const { context, page, client } = await signedInContext(browser, server.baseUrl, "Grace");
    const appId = await createApp(client, "Hooks API");
    const expiryOptions = async () => {
      await page.goto(`/app/${appId}/account-management`);
      const select = page.getByLabel("Expiration", { exact: true });
      await select.waitFor();
      return select
        .locator("option")
        .evaluateAll((options) => options.map((o) => o.getAttribute("value")));
    };
    expect(await expiryOptions()).toEqual(["7", "30", "60", "90", "custom", "never"]);

    await page.goto(`/app/${appId}/settings`);
    await page.getByLabel("Maximum lifetime (days)").fill("30");
    await page.getByRole("button", { name: "Save token policy" }).click();
    await page.getByText("Token policy saved.").waitFor();

    expect(await expiryOptions()).toEqual(["7", "30", "custom"]);
    expect(await page.getByTestId("expiry-policy").textContent()).toContain("within 30 days");

    // A webhook: registered with token.created, its secret shown once in the shared dialog.
    await page.goto(`/app/${appId}/settings`);
    await page.getByLabel("Endpoint URL").fill(receiverUrl);
    await page.getByRole("checkbox", { name: "token.created" }).check();
    await page.getByRole("button", { name: "Register webhook" }).click();
    const dialog = page.getByRole("dialog", { name: "Copy the webhook's signing secret" });
    await dialog.waitFor();
    const secret = await dialog.getByLabel(/^Signing secret for/).inputValue();
    expect(secret).toMatch(/^whsec_/);
    receiver.secret = secret;
    await dialog.getByRole("button", { name: "Copy", exact: true }).click();
    await dialog.getByRole("button", { name: "Done" }).click();
    await dialog.waitFor({ state: "hidden" });
    expect(await page.content()).not.toContain(secret);

    await createToken(client, appId, {
      name: "deploy",
      expiresAt: new Date(Date.now() + 7 * 86_400_000).toISOString(),
    });
    await pollUntil("the delivery", () => receiver.received.length === 1);
    await page.getByRole("button", { name: "Deliveries" }).click();
    const row = page.getByRole("table", { name: "Deliveries" }).getByRole("row").nth(1);
    await row.waitFor();
    expect(await row.getByTestId("delivery-status").textContent()).toBe("succeeded");
    expect(await row.textContent()).toContain("token.created");
    expect(await row.textContent()).toContain("200");

    await row.getByRole("button", { name: "Redeliver" }).click();
    await page.getByText("Delivery of token.created queued again.").waitFor();
    await pollUntil("the redelivery", () => receiver.received.length === 2);
    expect(receiver.received[1]?.id).toBe(receiver.received[0]?.id);
    expect(receiver.badSignatures).toBe(0);
    await pollUntil("the attempts shown", async () => {
      await page.getByRole("button", { name: "Refresh" }).click();
      return (await row.getByTestId("delivery-attempts").textContent()) === "2";
    });

    // Unused tokens revoked after 5 days: the fresh token is marked with its date.
    const policy = await client.request("PATCH", `/api/v1/applications/${appId}`, {
      body: { policy: { revokeUnusedAfterDays: 5 } },
    });
    expect(policy.status).toBe(200);
    await page.goto(`/app/${appId}/account-management`);
    const mark = page.getByTestId("policy-revocation").first();
    await mark.waitFor();
    expect(await mark.textContent()).toMatch(/^Unused: revoked on /);
    await context.close();
  });
});
