// Issue 12: the whole user story through the example host (examples/host-app): sign in to
// the product, open its API tokens page (a portal link to Keyward), generate "API Testing",
// copy it, call the product's own API with it, revoke it on the page, and the product's API
// (keyward-client's Fastify adapter, with its cache) refuses it at once, told by the
// revocation stream rather than by its cache running out.
import { createServer } from "node:net";
import type { FastifyInstance } from "fastify";
import { KeywardClient } from "keyward-client";
import type { Browser } from "playwright-core";
import { describe, expect, it } from "vitest";
import { bootstrapHost } from "../examples/host-app/bootstrap.js";
import { buildHostApp } from "../examples/host-app/host.js";
import type { TestServer } from "../src/test-support/harness.js";
import { pollUntil } from "../src/test-support/poll.js";
import {
  newContext,
  readShownToken,
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

/** A port nobody listens on right now, for the host (its origin is set up before it starts). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() =>
        typeof address === "object" && address
          ? resolve(address.port)
          : reject(new Error("no port")),
      );
    });
  });
}

describe("the example host", () => {
  it("walks a user from the product to their token and back, and the product's API hears the revocation", async () => {
    const port = await freePort();
    const hostOrigin = `http://127.0.0.1:${port}`;
    const setUp = await bootstrapHost(server.baseUrl, hostOrigin, {
      displayName: "Example Host",
      accentColor: "#0b7a3e",
    });
    // The client's clock stands still, so no cached answer ever ages out: once the token is
    // cached, only the revocation stream can make the product's API refuse it.
    const frozen = Date.now();
    const client = new KeywardClient({
      url: server.baseUrl,
      serviceKey: setUp.serviceKey,
      cacheMaxAgeMs: 5000,
      now: () => frozen,
    });
    let host: FastifyInstance | undefined;
    try {
      host = await buildHostApp({ client, cookieSecret: "e2e-secret" });
      await host.listen({ host: "127.0.0.1", port });
      const whoami = (token: string) =>
        fetch(`${hostOrigin}/v1/whoami`, { headers: { authorization: `Bearer ${token}` } });

      const context = await newContext(browser, server.baseUrl);
      const page = await context.newPage();
      await page.goto(`${hostOrigin}/`);
      await page.getByLabel("Username").fill("alice");
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.getByRole("link", { name: "API tokens" }).click();
      await page.waitForURL(`${server.baseUrl}/app/${setUp.appId}/account-management`);
      await page.getByRole("heading", { name: "API Tokens" }).waitFor();

      await page.getByLabel("Token name").fill("API Testing");
      await page.getByRole("button", { name: "Generate Token" }).click();
      const dialog = page.getByRole("dialog");
      await dialog.waitFor();
      const token = await readShownToken(page);
      expect(token).toMatch(TOKEN_PATTERN);
      await dialog.getByRole("button", { name: "Copy", exact: true }).click();
      await dialog.getByText("Copied to clipboard.").waitFor();
      expect(await page.evaluate("navigator.clipboard.readText()")).toBe(token);
      await screenshot(page, "host-example-token", { fullPage: false });
      await dialog.getByRole("button", { name: "Done" }).click();
      await dialog.waitFor({ state: "hidden" });

      // The product's API accepts it, and knows whose it is.
      const accepted = await whoami(token);
      expect(accepted.status).toBe(200);
      expect(await accepted.json()).toMatchObject({ user: "alice" });
      // Cached now: the next answer comes from the adapter's cache, not from Keyward.
      expect((await whoami(token)).status).toBe(200);

      const row = tokenRow(page, "API Testing");
      await row.getByRole("button", { name: "Revoke" }).click();
      const confirm = page.getByRole("dialog");
      await confirm.getByRole("button", { name: "Revoke", exact: true }).click();
      // The stream's 100 ms bound is measured in the scale-out tests and the bench.
      await pollUntil("the product's API to refuse the revoked token", async () => {
        return (await whoami(token)).status === 401;
      });

      // Back to the product.
      await page.getByRole("link", { name: /Back to Example Host/ }).click();
      await page.waitForURL(`${hostOrigin}/`);
      await page.getByText("Signed in as").waitFor();
      await context.close();
    } finally {
      await host?.close();
      await client.close();
      // Known: after this spec, once Chromium has closed, one connection to Keyward is left
      // that only the 60 s connection timeout ends (cause not yet found; other specs do not
      // show it). Stopping Keyward's listener while the browser is still up takes
      // milliseconds, so it is stopped here.
      await server.keyward.app.close();
    }
  });
});
