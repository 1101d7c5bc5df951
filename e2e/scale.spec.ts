// The account page with many rows: 100 tokens, 50 members and over 500 events. The number
// of requests the page makes does not grow with the number of tokens, each list shows a
// page at a time with a search and a total, and the time to a usable page is measured
// (docs/performance.md).
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuditPage } from "../src/contract/index.js";
import {
  addMember,
  type Client,
  createApp,
  createToken,
  startTestServer,
  type TestServer,
} from "../src/test-support/harness.js";
import { assertUiBuilt, launchBrowser, signedInContext } from "./support.js";

let server: TestServer;
let browser: Browser;

beforeAll(async () => {
  assertUiBuilt();
  [server, browser] = await Promise.all([
    startTestServer({
      MAX_ACTIVE_TOKENS_PER_USER: "1000",
      TOKEN_CREATIONS_PER_USER_PER_HOUR: "10000",
    }),
    launchBrowser(),
  ]);
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

/**
 * Runs in the page: the token table has rows and each shows its usage. A function, not a
 * string: the page's CSP forbids eval. (This project's e2e types have no DOM, hence the cast.)
 */
function usageDrawn(): boolean {
  type Doc = { querySelectorAll(selector: string): { length: number } };
  const doc = (globalThis as unknown as { document: Doc }).document;
  const rows = doc.querySelectorAll(".token-table tbody tr").length;
  return rows > 0 && doc.querySelectorAll(".token-table .usage-total").length === rows;
}

const tokenName = (i: number) => `svc-${String(i).padStart(3, "0")}`;

async function createTokens(owner: Client, appId: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await createToken(owner, appId, { name: tokenName(i) });
}

/** Opens the account page; resolves once tokens (with usage), members and activity are drawn. */
async function openAccountPage(page: Page, appId: string) {
  const requests: string[] = [];
  const onRequest = (request: { url(): string }) => {
    const url = new URL(request.url());
    if (url.pathname.startsWith("/api/")) requests.push(`${url.pathname}${url.search}`);
  };
  page.on("request", onRequest);
  const started = performance.now();
  await page.goto(`/app/${appId}/account-management`);
  const tokens = page.getByRole("table", { name: /tokens/i });
  await tokens.waitFor();
  // Usable: the first page of tokens is on screen with every row's usage drawn.
  await page.waitForFunction(usageDrawn);
  const usableMs = performance.now() - started;
  await page.getByRole("table", { name: "Members" }).waitFor();
  await page.locator(".audit-table").first().waitFor();
  // Anything the page would still ask for on its own (a second round of usage) has had time.
  await page.waitForTimeout(1000);
  page.off("request", onRequest);
  return { requests, usableMs, tokens };
}

describe("the account page at scale", () => {
  it("makes as many requests with 100 tokens as with 10, shows pages, totals and searches", async () => {
    const {
      context,
      page,
      client: owner,
    } = await signedInContext(browser, server.baseUrl, "Sam Scale");
    const small = await createApp(owner, "Ten tokens");
    const large = await createApp(owner, "Hundred tokens");
    await createTokens(owner, small, 10);
    await createTokens(owner, large, 100);
    // 50 members; each creates and revokes four tokens, so the trail holds over 500 events.
    const members = [];
    for (let i = 0; i < 50; i++) {
      const member = await addMember(owner, large);
      members.push(member);
      for (let j = 0; j < 4; j++) {
        const { id } = await createToken(member.client, large, { name: `cycle ${j}` });
        const revoked = await member.client.delete(`/api/v1/applications/${large}/tokens/${id}`);
        expect(revoked.status).toBe(204);
      }
    }
    const trail = await owner.get<AuditPage>(`/api/v1/applications/${large}/audit?limit=1`);
    expect(trail.body.total).toBeGreaterThanOrEqual(500);

    const ten = await openAccountPage(page, small);
    const hundred = await openAccountPage(page, large);
    console.log(
      `requests with 10 tokens: ${ten.requests.length}, with 100: ${hundred.requests.length}; ` +
        `usable page with 100 tokens in ${Math.round(hundred.usableMs)} ms (10: ${Math.round(ten.usableMs)} ms)`,
    );
    expect(hundred.requests.length, hundred.requests.join("\n")).toBe(ten.requests.length);
    expect(
      hundred.requests.filter((r) => r.includes("/usage")),
      "one usage request",
    ).toHaveLength(1);

    // A page at a time, with the total.
    const rows = hundred.tokens.locator("tbody tr");
    expect(await rows.count()).toBe(20);
    await page.getByText("100 tokens", { exact: true }).waitFor();
    await page.getByText("1–20 of 100").waitFor();
    const firstName = await rows.first().getByRole("link").textContent();
    await page
      .getByRole("navigation", { name: "Pages of tokens" })
      .getByRole("button", { name: "Next" })
      .click();
    await page.getByText("21–40 of 100").waitFor();
    expect(await rows.first().getByRole("link").textContent()).not.toBe(firstName);

    // Search narrows the tokens; sort by name puts svc-000 first.
    await page.getByLabel("Search tokens by name", { exact: true }).fill("svc-042");
    await page.getByText("1 match of 100").waitFor();
    expect(await rows.count()).toBe(1);
    await page.getByLabel("Search tokens by name", { exact: true }).fill("");
    await page.getByLabel("Sort").selectOption({ label: "Name" });
    await page.getByText("1–20 of 100").waitFor();
    await expect.poll(() => rows.first().getByRole("link").textContent()).toBe("svc-000");

    // Members: a page of 20 of 51 (the owner and 50), and a search by email.
    const membersTable = page.getByRole("table", { name: "Members" });
    await page.getByText("51 members", { exact: true }).waitFor();
    expect(await membersTable.locator("tbody tr").count()).toBe(20);
    const someone = members[37]?.user.email ?? "";
    await page.getByLabel("Search members by name or email").fill(someone.toUpperCase());
    await page.getByText("1 match of 51").waitFor();
    expect(await membersTable.locator("tbody tr").count()).toBe(1);

    // Activity: the total, and a search by actor.
    await page.getByText(`25 of ${trail.body.total} events shown`).waitFor();
    await page.getByLabel("Search activity by actor or token").fill(someone);
    await page.getByText("8 events", { exact: true }).waitFor();
    expect(await page.locator(".audit-table tbody tr").count()).toBe(8);

    // All members: still one list request and one usage request.
    const allRequests: string[] = [];
    page.on("request", (request) => {
      const url = new URL(request.url());
      if (url.pathname.startsWith("/api/")) allRequests.push(url.pathname);
    });
    await page.getByText("All members", { exact: true }).click();
    await page.getByText("300 tokens", { exact: true }).waitFor();
    await page.waitForFunction(usageDrawn);
    await page.waitForTimeout(500);
    expect(allRequests.filter((r) => r.endsWith("/tokens"))).toHaveLength(1);
    expect(allRequests.filter((r) => r.endsWith("/usage"))).toHaveLength(1);
    await context.close();
  }, 240_000);
});
