// Issue 19, item 5: a create whose answer is lost (the request reached the server, the
// response never came back) must not leave an invisible token. The page reloads the list, says
// the token may have been created but cannot be shown, and revokes it and creates a new one
// in one step; when nothing was created it says so and offers to try again.
import type { Browser, Page, Route } from "playwright-core";
import { describe, expect, it } from "vitest";
import { createApp, serviceClient, type TestServer } from "../src/test-support/harness.js";
import {
  callApi,
  readShownToken,
  screenshot,
  signedInContext,
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

interface Issued {
  token: string;
  apiToken: { id: string; name: string; expiresAt: string | null };
}

interface Listed {
  id: string;
  name: string;
  status: string;
  expiresAt: string | null;
}

const isCreate = (url: URL) => /\/api\/v1\/applications\/[^/]+\/tokens$/.test(url.pathname);

/** Lets the next create through to the server (or not), then drops the answer on the floor. */
async function loseNextCreateAnswer(
  page: Page,
  reachServer: boolean,
): Promise<{ issued: () => Issued | undefined }> {
  let issued: Issued | undefined;
  await page.route(
    isCreate,
    async (route: Route) => {
      if (route.request().method() !== "POST") return route.fallback();
      if (reachServer) {
        const response = await route.fetch();
        expect(response.status()).toBe(201);
        issued = (await response.json()) as Issued;
      }
      await route.abort("connectionreset");
    },
    { times: 1 },
  );
  return { issued: () => issued };
}

describe("a create whose answer was lost", () => {
  it("says the token may have been created, and revokes it and creates a new one in one step", async () => {
    const { context, page, client } = await signedInContext(browser, server.baseUrl);
    const appId = await createApp(client, "Lost answers");
    await page.goto(`/app/${appId}/account-management`);
    await page.getByRole("heading", { name: "API Tokens" }).waitFor();
    const lost = await loseNextCreateAnswer(page, true);

    await page.getByLabel("Token name").fill("Lost answer");
    await page.getByLabel("Expiration").selectOption("90");
    await page.getByRole("button", { name: "Generate Token" }).click();

    const notice = page.getByRole("alert").filter({ hasText: "may have been created" });
    await notice.waitFor();
    expect(await notice.textContent()).toContain("secret cannot be shown");
    const first = lost.issued();
    expect(first?.apiToken.name).toBe("Lost answer");
    if (!first) throw new Error("the create did not reach the server");
    // The list was reloaded: the token that was created is visible, not hidden.
    await tokenRow(page, "Lost answer").waitFor();
    await screenshot(page, "lost-create-found");

    await notice.getByRole("button", { name: "Revoke it and create a new one" }).click();
    const secret = await readShownToken(page);
    expect(secret).toMatch(TOKEN_PATTERN);
    expect(secret).not.toBe(first.token);
    expect(await callApi(server.baseUrl, secret)).toBe(200);
    // The secret that never reached the page does not work any more.
    expect(await callApi(server.baseUrl, first.token)).toBe(401);

    const { body } = await client.get<{ tokens: Listed[] }>(`/api/v1/applications/${appId}/tokens`);
    const old = body.tokens.find((t) => t.id === first.apiToken.id);
    expect(old?.status).toBe("revoked");
    const replacements = body.tokens.filter(
      (t) => t.name === "Lost answer" && t.status === "active",
    );
    expect(replacements).toHaveLength(1);
    // Same name and options: the replacement expires when the lost one would have.
    const replacement = replacements[0];
    expect(replacement?.expiresAt).toBe(first.apiToken.expiresAt);
    await context.close();
  });

  it("says nothing was created when the request never reached the server, and tries again", async () => {
    const { context, page, client } = await signedInContext(browser, server.baseUrl);
    const appId = await createApp(client, "Never arrived");
    await page.goto(`/app/${appId}/account-management`);
    await page.getByRole("heading", { name: "API Tokens" }).waitFor();
    await loseNextCreateAnswer(page, false);

    await page.getByLabel("Token name").fill("Never sent");
    await page.getByRole("button", { name: "Generate Token" }).click();
    const notice = page.getByRole("alert").filter({ hasText: "was not created" });
    await notice.waitFor();
    expect(await page.getByLabel("Token name").inputValue()).toBe("Never sent");

    await notice.getByRole("button", { name: "Try again" }).click();
    const secret = await readShownToken(page);
    expect(await callApi(server.baseUrl, secret)).toBe(200);
    const { body } = await client.get<{ tokens: Listed[] }>(`/api/v1/applications/${appId}/tokens`);
    expect(body.tokens.map((t) => t.name)).toEqual(["Never sent"]);
    await context.close();
  });
});

describe("a service key create whose answer was lost", () => {
  it("says so, checks again when the list could not be loaded, then revokes it and creates a new one", async () => {
    const { context, page, client } = await signedInContext(browser, server.baseUrl, "Ada");
    const appId = await createApp(client, "Lost keys");
    await page.goto(`/app/${appId}/settings`);
    await page.getByRole("heading", { name: "Service keys" }).waitFor();
    const keysPath = `/api/v1/applications/${appId}/service-keys`;
    let issued: { key: string; serviceKey: { id: string } } | undefined;
    // The create reaches the server and its answer is dropped; so is the list read after it.
    // (One handler: a `times` limit counts the requests a handler passes on, too.)
    let listsDropped = 0;
    await page.route(
      (url) => url.pathname === keysPath,
      async (route: Route) => {
        const method = route.request().method();
        if (method === "POST" && issued === undefined) {
          const response = await route.fetch();
          expect(response.status()).toBe(201);
          issued = (await response.json()) as typeof issued;
          return route.abort("connectionreset");
        }
        if (method === "GET" && issued !== undefined && listsDropped === 0) {
          listsDropped++;
          return route.abort("connectionreset");
        }
        return route.fallback();
      },
    );

    await page.getByLabel("Service key name").fill("billing");
    await page.getByRole("button", { name: "Create service key" }).click();
    const unknown = page.getByRole("alert").filter({ hasText: "not yet known" });
    await unknown.waitFor();
    if (!issued) throw new Error("the create did not reach the server");
    const lostKey = issued.key;

    await unknown.getByRole("button", { name: "Check again" }).click();
    const found = page.getByRole("alert").filter({ hasText: "may have been created" });
    await found.waitFor();
    expect(await found.textContent()).toContain("secret cannot be shown");
    await found.getByRole("button", { name: "Revoke it and create a new one" }).click();

    const dialog = page.getByRole("dialog", { name: "Copy your new service key" });
    await dialog.waitFor();
    const key = await dialog.getByLabel("Service key for billing").inputValue();
    expect(key).not.toBe(lostKey);
    const mirror = (serviceKey: string) =>
      serviceClient(server.baseUrl, serviceKey)("PUT", "/api/v1/service/users/u-1", {});
    expect((await mirror(key)).status).toBe(201);
    // The key whose answer was lost no longer works.
    expect((await mirror(lostKey)).status).toBe(401);
    const { body } = await client.get<{ serviceKeys: Array<{ id: string; status: string }> }>(
      keysPath,
    );
    expect(body.serviceKeys.find((k) => k.id === issued?.serviceKey.id)?.status).toBe("revoked");
    expect(body.serviceKeys.filter((k) => k.status === "active")).toHaveLength(1);
    await context.close();
  });
});
