// The account page at every width from a phone up, with ordinary and with long content
// (100-character names, a 110-character email, right-to-left text), in light and dark mode:
// no sideways scroll, every row's name, status and actions on screen, a one-line top bar
// whose parts do not overlap, the show-once dialog inside the viewport, and axe clean. The
// same for the application settings page and for a host user's (portal) account page.
import type { Browser, Locator, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PortalSession } from "../src/contract/index.js";
import {
  Client,
  createServiceKey,
  createToken,
  inviteAndAccept,
  serviceClient,
  startTestServer,
  type TestServer,
} from "../src/test-support/harness.js";
import {
  addSessionCookie,
  assertUiBuilt,
  expectNoSeriousA11yViolations,
  launchBrowser,
  newContext,
  readShownToken,
  screenshot,
} from "./support.js";

const WIDTHS = [360, 390, 768, 1024, 1440] as const;
const MODES = ["light", "dark"] as const;
// The tallest one-line top bar: 10 px padding either side of a 40 px button, and a border.
const TOP_BAR_MAX_HEIGHT = 64;

const LONG_TOKEN_NAME =
  "deployment-pipeline-for-the-eu-west-production-cluster-and-its-nightly-backups-replicas-and-canaries"; // 100
const LONG_SPACED_NAME = "very long token name ".repeat(5).slice(0, 99).padEnd(100, "s");
const RTL_NAME = "מפתח גישה לשרת הייצור";
const LONG_APP_NAME =
  "The Extraordinarily Long Application Name Used By Our Payments And Settlements Platform Team Ltd".padEnd(
    100,
    "!",
  );
const LONG_DOMAIN = "very-long-subdomain-name.very-long-subdomain-name.example.com";
/** A unique 110-character email. */
function longEmail(tag: string): string {
  return `${`${tag}-${Date.now()}-`.padEnd(110 - 1 - LONG_DOMAIN.length, "a")}@${LONG_DOMAIN}`;
}

let server: TestServer;
let browser: Browser;

async function signUp(email: string, name: string): Promise<{ client: Client; id: string }> {
  const client = new Client(server.baseUrl);
  const res = await client.post<{ user: { id: string } }>("/api/v1/auth/signup", {
    email,
    password: "correct horse battery staple",
    name,
  });
  if (res.status !== 201) throw new Error(`signup failed: ${res.status} ${res.text}`);
  return { client, id: res.body.user.id };
}

interface Scenario {
  label: "ordinary" | "long";
  owner: Client;
  appId: string;
  tokenNames: string[];
  memberEmail: string;
}

/** An owner, a member with a token, and a few tokens of the owner's (one revoked). */
async function seed(
  label: Scenario["label"],
  owner: { email: string; name: string },
  appName: string,
  member: { email: string; name: string },
  tokenNames: string[],
): Promise<Scenario> {
  const { client } = await signUp(owner.email, owner.name);
  const created = await client.post<{ id: string }>("/api/v1/applications", {
    name: appName,
    scopes: ["read", "write"],
  });
  const appId = created.body.id;
  const { client: memberClient } = await signUp(member.email, member.name);
  await inviteAndAccept(client, appId, memberClient, member.email, "member");
  for (const name of tokenNames) await createToken(client, appId, { name, scopes: ["read"] });
  const revoked = await createToken(client, appId, { name: `${tokenNames[0]} (old)`.slice(-100) });
  await client.delete(`/api/v1/applications/${appId}/tokens/${revoked.id}`);
  await createToken(memberClient, appId, { name: `${member.name} token` });
  return { label, owner: client, appId, tokenNames, memberEmail: member.email };
}

let scenarios: Scenario[];

const LONG_DISPLAY_NAME = "Acme Corporation International Developer Platform and Services Portal";
const HOST_ORIGIN = "https://app.acme.example";

/** The long scenario's application, set up as a host product: keys, origins, branding. */
async function seedHost(scenario: Scenario): Promise<void> {
  await createServiceKey(scenario.owner, scenario.appId, LONG_TOKEN_NAME);
  const revoked = await createServiceKey(scenario.owner, scenario.appId, RTL_NAME);
  await scenario.owner.delete(`/api/v1/applications/${scenario.appId}/service-keys/${revoked.id}`);
  const patched = await scenario.owner.request("PATCH", `/api/v1/applications/${scenario.appId}`, {
    body: {
      returnOrigins: [HOST_ORIGIN, "https://staging.acme.example"],
      branding: { displayName: LONG_DISPLAY_NAME, accentColor: "#0f7b6c" },
    },
  });
  if (patched.status !== 200) throw new Error(`PATCH failed: ${patched.status} ${patched.text}`);
}

let hostService: ReturnType<typeof serviceClient>;

beforeAll(async () => {
  assertUiBuilt();
  [server, browser] = await Promise.all([startTestServer(), launchBrowser()]);
  const stamp = Date.now();
  scenarios = [
    await seed(
      "ordinary",
      { email: `ada-${stamp}@example.com`, name: "Ada Lovelace" },
      "Payments API",
      { email: `bo-${stamp}@example.com`, name: "Bo Member" },
      ["ci deploy", "nightly export"],
    ),
    await seed(
      "long",
      {
        email: longEmail("owner"),
        name: "Maximiliana Wolfeschlegelsteinhausenbergerdorff",
      },
      LONG_APP_NAME,
      { email: longEmail("member"), name: "ماريا الحسيني" },
      [LONG_TOKEN_NAME, LONG_SPACED_NAME, RTL_NAME],
    ),
  ];
  const long = scenarios[1] as Scenario;
  await seedHost(long);
  const { key } = await createServiceKey(long.owner, long.appId, "widths backend");
  hostService = serviceClient(server.baseUrl, key);
  // A host user with a long name and email, and tokens of their own.
  await hostService("PUT", "/api/v1/service/users/host-user-1", {
    email: longEmail("host"),
    name: "Maximiliana Wolfeschlegelsteinhausenbergerdorff",
  });
  for (const name of [LONG_TOKEN_NAME, RTL_NAME]) {
    const made = await hostService("POST", "/api/v1/service/users/host-user-1/tokens", { name });
    if (made.status !== 201) throw new Error(`host token failed: ${made.status} ${made.text}`);
  }
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

type Box = { x: number; y: number; width: number; height: number };

async function box(locator: Locator): Promise<Box> {
  const b = await locator.boundingBox();
  if (!b) throw new Error(`${locator} is not shown`);
  return b;
}

async function expectInsideViewport(page: Page, locator: Locator, what: string) {
  const width = await page.evaluate<number>("window.innerWidth");
  const b = await box(locator);
  expect(b.x, `${what} starts off-screen`).toBeGreaterThanOrEqual(-0.5);
  expect(b.x + b.width, `${what} ends off-screen`).toBeLessThanOrEqual(width + 0.5);
}

async function expectNoSidewaysScroll(page: Page, where: string) {
  const [scrollWidth, innerWidth, wide] = await page.evaluate<[number, number, string[]]>(
    `[document.scrollingElement.scrollWidth, innerWidth,
      [...document.querySelectorAll("body *")]
        .filter((el) => el.getBoundingClientRect().right > innerWidth + 0.5)
        .slice(0, 8)
        .map((el) => el.tagName.toLowerCase() + "." + el.classList + " " + Math.round(el.getBoundingClientRect().right))]`,
  );
  expect(
    scrollWidth,
    `the page scrolls sideways: ${where}; past the edge: ${wide.join(", ")}`,
  ).toBeLessThanOrEqual(innerWidth);
}

/** Each token row's name, status and (for active rows) actions are on screen. */
async function expectTokenRowsOnScreen(page: Page, where: string) {
  const rows = page.getByRole("table", { name: /tokens/i }).locator("tbody tr");
  const count = await rows.count();
  expect(count, `no token rows: ${where}`).toBeGreaterThan(0);
  for (let i = 0; i < count; i++) {
    const row = rows.nth(i);
    await expectInsideViewport(page, row.getByRole("link").first(), `row ${i} name (${where})`);
    await expectInsideViewport(page, row.locator(".badge"), `row ${i} status (${where})`);
    const revoke = row.getByRole("button", { name: "Revoke", exact: true });
    if ((await revoke.count()) > 0) {
      await expectInsideViewport(page, revoke, `row ${i} Revoke (${where})`);
    }
  }
}

/**
 * An activity table (named `name`) fits its card: nothing in it is wider than the table's
 * wrapper, which therefore never scrolls sideways, and each row's event text is on screen.
 */
async function expectActivityFits(page: Page, name: string, where: string) {
  const table = page.getByRole("table", { name, exact: true });
  const rows = table.locator("tbody tr");
  await rows.first().waitFor();
  const [scrollWidth, clientWidth, wide] = await table.evaluate((el) => {
    const wrap = el.parentElement;
    if (!wrap) throw new Error("the table has no wrapper");
    const right = wrap.getBoundingClientRect().right;
    return [
      wrap.scrollWidth,
      wrap.clientWidth,
      [...wrap.querySelectorAll("*")]
        .filter((child) => child.getBoundingClientRect().right > right + 0.5)
        .slice(0, 8)
        .map((child) => `${child.tagName.toLowerCase()}.${child.classList}`),
    ] as const;
  });
  expect(
    scrollWidth,
    `${name} scrolls sideways in its card: ${where}; past the edge: ${wide.join(", ")}`,
  ).toBeLessThanOrEqual(clientWidth);
  const count = await rows.count();
  for (let i = 0; i < count; i++) {
    await expectInsideViewport(page, rows.nth(i).locator("th"), `${name} row ${i} (${where})`);
  }
}

/** Brand, breadcrumb and account do not overlap, and the bar stays one line high. */
async function expectTopBarInOrder(page: Page, where: string, portal = false) {
  const header = page.getByRole("banner");
  const current = header
    .getByRole("navigation", { name: "Breadcrumb" })
    .locator('[aria-current="page"]');
  const parts = [
    // A host user's bar names the host; on a phone the breadcrumb gives way to it.
    await box(
      portal ? header.locator(".brand-host") : header.getByRole("link", { name: /Keyward/ }),
    ),
    ...(portal && !(await current.isVisible()) ? [] : [await box(current)]),
    await box(header.locator(".avatar")),
    await box(header.getByRole("button", { name: "Sign out" })),
  ];
  for (let i = 1; i < parts.length; i++) {
    const before = parts[i - 1] as Box;
    const after = parts[i] as Box;
    expect(
      before.x + before.width,
      `top bar parts ${i - 1} and ${i} overlap (${where})`,
    ).toBeLessThanOrEqual(after.x + 0.5);
  }
  expect((await box(header)).height, `top bar height (${where})`).toBeLessThanOrEqual(
    TOP_BAR_MAX_HEIGHT,
  );
}

describe("every width from 360 px, light and dark", () => {
  for (const width of WIDTHS) {
    it(`${width} px: no sideways scroll, rows and top bar on screen, dialog fits, axe clean`, async () => {
      const context = await newContext(browser, server.baseUrl, {
        bypassCSP: true,
        viewport: { width, height: 800 },
      });
      const page = await context.newPage();
      for (const scenario of scenarios) {
        await context.clearCookies();
        await addSessionCookie(context, scenario.owner, server.baseUrl);
        for (const mode of MODES) {
          const where = `${width} px, ${scenario.label} content, ${mode}`;
          await page.emulateMedia({ colorScheme: mode });
          await page.goto(`/app/${scenario.appId}/account-management`);
          await page
            .getByRole("table", { name: /tokens/i })
            .locator("tbody tr")
            .first()
            .waitFor();
          await page.getByRole("table", { name: "Members" }).waitFor();
          await expectNoSidewaysScroll(page, where);
          await expectTokenRowsOnScreen(page, where);
          await expectTopBarInOrder(page, where);
          const members = page.getByRole("table", { name: "Members" }).locator("tbody tr");
          for (let i = 0; i < (await members.count()); i++) {
            await expectInsideViewport(
              page,
              members.nth(i).locator("th"),
              `member ${i} (${where})`,
            );
          }
          await expectInsideViewport(
            page,
            page.getByRole("button", { name: `Remove ${scenario.memberEmail}` }),
            `Remove member (${where})`,
          );
          await expectActivityFits(page, "Activity", where);
          await expectNoSeriousA11yViolations(page, where);
          await screenshot(page, `width-${width}-${scenario.label}-${mode}`);

          await page.getByRole("radio", { name: "All members" }).check();
          await page
            .getByRole("table", { name: /Everyone/i })
            .getByRole("link", { name: /token$/ })
            .first()
            .waitFor();
          await expectNoSidewaysScroll(page, `${where}, all members`);
          await expectTokenRowsOnScreen(page, `${where}, all members`);
          await expectNoSeriousA11yViolations(page, `${where}, all members`);
          await page.getByRole("radio", { name: "Your tokens" }).check();
          await page.getByRole("table", { name: /Your tokens/i }).waitFor();
        }

        // The account activity on the applications page.
        await page.emulateMedia({ colorScheme: "light" });
        await page.goto("/apps");
        await expectActivityFits(
          page,
          "Account activity",
          `${width} px, ${scenario.label} content`,
        );
        await expectNoSidewaysScroll(page, `${width} px, applications page, ${scenario.label}`);
        await page.goto(`/app/${scenario.appId}/account-management`);
        await page.getByLabel("Token name").waitFor();

        // The show-once dialog: its secret, both copy buttons and Done on screen.
        const name =
          scenario.label === "long"
            ? `${LONG_SPACED_NAME.slice(0, 90)} ${width}`
            : `fresh ${width}`;
        await page.getByLabel("Token name").fill(name);
        await page.getByRole("button", { name: "Generate Token" }).click();
        await readShownToken(page);
        const dialog = page.getByRole("dialog");
        for (const control of [
          dialog.getByLabel(/^Token for/),
          dialog.getByRole("button", { name: "Copy", exact: true }),
          dialog.getByRole("button", { name: "Copy curl command" }),
          dialog.getByRole("button", { name: "Done" }),
        ]) {
          await expectInsideViewport(
            page,
            control,
            `${await control.textContent()} in the dialog (${width} px)`,
          );
        }
        await expectNoSidewaysScroll(page, `${width} px, show-once dialog`);
        if (scenario.label === "long") {
          await screenshot(page, `width-${width}-show-once-dialog`, { fullPage: false });
        }
        await dialog.getByRole("checkbox", { name: /saved this token/ }).check();
        await dialog.getByRole("button", { name: "Done" }).click();
        await dialog.waitFor({ state: "hidden" });

        // The token page of a long name.
        await page
          .getByRole("table", { name: /tokens/i })
          .getByRole("link")
          .first()
          .click();
        await page.getByRole("heading", { level: 1 }).waitFor();
        await page.getByRole("img", { name: /Requests per day/ }).waitFor();
        await expectNoSidewaysScroll(page, `${width} px, token page, ${scenario.label} content`);
        await expectTopBarInOrder(page, `${width} px, token page, ${scenario.label} content`);
        await expectInsideViewport(
          page,
          page.getByRole("heading", { level: 1 }),
          `token title (${width} px)`,
        );
      }
      await context.close();
    }, 120_000);
  }
});

describe("the settings page and a host user's page, every width from 360 px, light and dark", () => {
  for (const width of WIDTHS) {
    it(`${width} px: no sideways scroll, rows, controls and top bar on screen, axe clean`, async () => {
      const scenario = scenarios[1] as Scenario;
      const context = await newContext(browser, server.baseUrl, {
        bypassCSP: true,
        viewport: { width, height: 800 },
      });
      const page = await context.newPage();
      await addSessionCookie(context, scenario.owner, server.baseUrl);
      for (const mode of MODES) {
        const where = `${width} px, settings, ${mode}`;
        await page.emulateMedia({ colorScheme: mode });
        await page.goto(`/app/${scenario.appId}/settings`);
        const rows = page.getByRole("table", { name: "Service keys" }).locator("tbody tr");
        await rows.first().waitFor();
        await expectNoSidewaysScroll(page, where);
        await expectTopBarInOrder(page, where);
        for (let i = 0; i < (await rows.count()); i++) {
          const row = rows.nth(i);
          await expectInsideViewport(page, row.locator("th"), `key ${i} name (${where})`);
          await expectInsideViewport(page, row.locator(".badge"), `key ${i} status (${where})`);
          const revoke = row.getByRole("button", { name: "Revoke", exact: true });
          if ((await revoke.count()) > 0) {
            await expectInsideViewport(page, revoke, `key ${i} Revoke (${where})`);
          }
        }
        for (const control of [
          page.getByRole("button", { name: "Create service key" }),
          page.getByRole("textbox", { name: "Return origins" }),
          page.getByRole("button", { name: "Save return origins" }),
          page.getByLabel("Accent colour, hex"),
          page.getByRole("button", { name: "Remove branding" }),
        ]) {
          await expectInsideViewport(page, control, `${await control.textContent()} (${where})`);
        }
        await expectNoSeriousA11yViolations(page, where);
        await screenshot(page, `width-${width}-settings-${mode}`);
      }

      // A host user's page: a fresh portal link per width, as the host would hand out.
      const portal = await newContext(browser, server.baseUrl, {
        bypassCSP: true,
        viewport: { width, height: 800 },
      });
      const hostPage = await portal.newPage();
      const link = await hostService<PortalSession>("POST", "/api/v1/service/portal-sessions", {
        externalId: "host-user-1",
        returnUrl: `${HOST_ORIGIN}/settings/api`,
      });
      expect(link.status).toBe(201);
      await hostPage.goto(link.body.url);
      await hostPage.waitForURL(`**/app/${scenario.appId}/account-management`);
      for (const mode of MODES) {
        const where = `${width} px, host user's page, ${mode}`;
        await hostPage.emulateMedia({ colorScheme: mode });
        await hostPage.reload();
        await hostPage
          .getByRole("table", { name: /tokens/i })
          .locator("tbody tr")
          .first()
          .waitFor();
        await expectNoSidewaysScroll(hostPage, where);
        await expectTokenRowsOnScreen(hostPage, where);
        await expectTopBarInOrder(hostPage, where, true);
        await expectInsideViewport(
          hostPage,
          hostPage.getByRole("banner").getByTitle(LONG_DISPLAY_NAME),
          `the host's name (${where})`,
        );
        await expectInsideViewport(
          hostPage,
          hostPage.getByRole("link", { name: /^Back to / }),
          `Back to … (${where})`,
        );
        await expectActivityFits(hostPage, "Activity", where);
        await expectNoSeriousA11yViolations(hostPage, where);
        await screenshot(hostPage, `width-${width}-host-page-${mode}`);
      }
      await portal.close();
      await context.close();
    }, 120_000);
  }
});
