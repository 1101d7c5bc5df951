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
  screenshotOf,
  tokenRow,
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

describe("on a phone (320 and 375 px)", () => {
  const PHONE_WIDTHS = [320, 375] as const;
  const PHONE_HEIGHT = 740;
  const DAY_MS = 86_400_000;

  /** An owner of a fresh application; the tokens named expire in three days ("Expires soon"). */
  async function seedExpiring(names: string[]): Promise<{ owner: Client; appId: string }> {
    const { client } = await signUp(`phone-${Date.now()}-${Math.random()}@example.com`, "Pat");
    const created = await client.post<{ id: string }>("/api/v1/applications", {
      name: "Phone app",
      scopes: ["read"],
    });
    const expiresAt = new Date(Date.now() + 3 * DAY_MS).toISOString();
    for (const name of names) await createToken(client, created.body.id, { name, expiresAt });
    return { owner: client, appId: created.body.id };
  }

  async function phonePage(width: number, owner: Client): Promise<Page> {
    const context = await newContext(browser, server.baseUrl, {
      viewport: { width, height: PHONE_HEIGHT },
    });
    await addSessionCookie(context, owner, server.baseUrl);
    return context.newPage();
  }

  it("keeps the attention panel short, its names readable, and shows all on request", async () => {
    const names = Array.from({ length: 14 }, (_, i) =>
      i % 2 === 0
        ? `A very long descriptive token name for the nightly backup job ${i}`
        : `my-very-long-token-name-for-the-ci-pipeline-${i}`,
    );
    const { owner, appId } = await seedExpiring(names);
    for (const width of PHONE_WIDTHS) {
      const where = `${width} px`;
      const page = await phonePage(width, owner);
      await page.goto(`/app/${appId}/account-management`);
      const panel = page.getByRole("region", { name: /need attention/ });
      await panel.getByRole("listitem").first().waitFor();
      await expectNoSidewaysScroll(page, `attention panel, ${where}`);
      expect((await box(panel)).height, `panel height (${where})`).toBeLessThan(1.5 * PHONE_HEIGHT);
      const expectNamesReadable = async () => {
        const items = panel.getByRole("listitem");
        for (let i = 0; i < (await items.count()); i++) {
          const name = items.nth(i).locator(".attention-name");
          expect((await box(name)).width, `item ${i} name width (${where})`).toBeGreaterThan(120);
          await expectInsideViewport(page, name, `item ${i} name (${where})`);
          for (const button of await items.nth(i).getByRole("button").all()) {
            await expectInsideViewport(page, button, `item ${i} button (${where})`);
          }
        }
      };
      await expectNamesReadable();
      await screenshotOf(panel, `phone-${width}-attention-panel`);

      // The toggle's words change with its state, so find it by what it controls.
      const toggle = panel.locator("button[aria-expanded]");
      expect(await toggle.textContent()).toBe(`Show all ${names.length}`);
      expect(await toggle.getAttribute("aria-expanded")).toBe("false");
      await toggle.click();
      await expect.poll(() => panel.getByRole("listitem").count()).toBe(names.length);
      expect(await toggle.getAttribute("aria-expanded")).toBe("true");
      for (const name of names) {
        expect(await panel.getByText(name, { exact: true }).count(), name).toBe(1);
      }
      await expectNamesReadable();
      await expectNoSidewaysScroll(page, `attention panel expanded, ${where}`);
      await page.context().close();
    }
  }, 60_000);

  /** Every button of the open dialog lies wholly inside the viewport. */
  async function expectDialogButtonsOnScreen(page: Page, where: string) {
    const buttons = await page.getByRole("dialog").getByRole("button").all();
    expect(buttons.length, `no buttons: ${where}`).toBeGreaterThan(0);
    for (const button of buttons) {
      await expectInsideViewport(page, button, `${await button.textContent()} (${where})`);
    }
  }

  it("keeps dialog buttons on screen at 320 px: the close-confirm and Regenerate", async () => {
    const tokenName = "my-very-long-token-name-for-the-ci-pipeline";
    const { owner, appId } = await seedExpiring([]);
    await createToken(owner, appId, { name: "dialog-then-down" });
    const page = await phonePage(320, owner);
    await page.goto(`/app/${appId}/account-management`);
    await page.getByLabel("Token name").fill(tokenName);
    await page.getByRole("button", { name: "Generate Token" }).click();
    await readShownToken(page);
    const dialog = page.getByRole("dialog");
    await expectDialogButtonsOnScreen(page, "show-once dialog");
    await dialog.getByRole("button", { name: "Done" }).click();
    await dialog.getByRole("button", { name: "Close anyway" }).waitFor();
    await expectDialogButtonsOnScreen(page, "close-confirm");
    await screenshot(page, "phone-320-close-confirm", { fullPage: false });
    await dialog.getByRole("button", { name: "Close anyway" }).click();
    await dialog.waitFor({ state: "hidden" });

    await tokenRow(page, "dialog-then-down").getByRole("button", { name: "Regenerate" }).click();
    await dialog.getByRole("button", { name: "Regenerate token" }).waitFor();
    await expectDialogButtonsOnScreen(page, "Regenerate dialog");
    await screenshot(page, "phone-320-regenerate-dialog", { fullPage: false });
    await page.context().close();
  }, 60_000);

  it("shows the whole secret and a label that reads in order, at 320 px", async () => {
    const tokenName = "my-very-long-token-name-for-the-ci-pipeline";
    const { owner, appId } = await seedExpiring([]);
    const page = await phonePage(320, owner);
    await page.goto(`/app/${appId}/account-management`);
    await page.getByLabel("Token name").fill(tokenName);
    await page.getByRole("button", { name: "Generate Token" }).click();
    const secret = await readShownToken(page);
    const dialog = page.getByRole("dialog");
    const field = dialog.getByLabel(/^Token for/);
    // Nothing of the secret is scrolled out of its field, and the field is inside the dialog.
    const [scrollWidth, clientWidth] = await field.evaluate((el) => [
      el.scrollWidth,
      el.clientWidth,
    ]);
    expect(scrollWidth, "the secret is wider than its field").toBeLessThanOrEqual(clientWidth);
    const fieldBox = await box(field);
    const dialogBox = await box(dialog);
    expect(fieldBox.x).toBeGreaterThanOrEqual(dialogBox.x);
    expect(fieldBox.x + fieldBox.width).toBeLessThanOrEqual(dialogBox.x + dialogBox.width);
    expect(await field.evaluate((el) => (el as unknown as { value: string }).value)).toBe(secret);
    // The label, as shown top to bottom: the name is wrapped, not cut or moved.
    // biome-ignore lint/performance/useDomNodeTextContent: what is shown, with its line breaks.
    const label = (await dialog.locator("label.secret-label").innerText()).replace(/\s+/g, " ");
    expect(label.trim()).toBe(`Token for ${tokenName}`);
    const [labelScroll, labelClient, labelClipped] = await dialog
      .locator("label.secret-label")
      .evaluate((el) => [
        el.scrollWidth,
        el.clientWidth,
        [...el.querySelectorAll("*")].some((child) => child.scrollWidth > child.clientWidth + 0.5),
      ]);
    expect(labelScroll, "the label is wider than its box").toBeLessThanOrEqual(labelClient);
    expect(labelClipped, "part of the label is clipped").toBe(false);
    await screenshot(page, "phone-320-show-once-dialog", { fullPage: false });
    await page.context().close();
  }, 60_000);

  it("shows a server error on create where the user is looking, at 375 px", async () => {
    const { owner, appId } = await seedExpiring([]);
    const page = await phonePage(375, owner);
    await page.goto(`/app/${appId}/account-management`);
    await page.route(`**/api/v1/applications/${appId}/tokens`, (route) =>
      route.request().method() === "POST"
        ? route.fulfill({
            status: 503,
            contentType: "application/json",
            body: JSON.stringify({
              error: { code: "unavailable", message: "The service is busy; try again." },
            }),
          })
        : route.fallback(),
    );
    await page.getByLabel("Token name").fill("during an outage");
    const generate = page.getByRole("button", { name: "Generate Token" });
    await generate.click();
    const alert = page.locator("form.create-token").getByRole("alert");
    await alert.waitFor();
    const [top, bottom, viewportHeight] = await alert.evaluate((el) => {
      const rect = el.getBoundingClientRect();
      return [rect.top, rect.bottom, el.ownerDocument.documentElement.clientHeight];
    });
    expect(top, "the error starts above the viewport").toBeGreaterThanOrEqual(0);
    expect(bottom, "the error ends below the viewport").toBeLessThanOrEqual(viewportHeight);
    await screenshot(page, "phone-375-create-error", { fullPage: false });
    await page.context().close();
  }, 60_000);

  it("shows a long name whole on the token's own page, at 375 px", async () => {
    const { owner, appId } = await seedExpiring([]);
    const { id } = await createToken(owner, appId, { name: LONG_TOKEN_NAME });
    const page = await phonePage(375, owner);
    await page.goto(`/app/${appId}/account-management/tokens/${id}`);
    const title = page.getByRole("heading", { level: 1 });
    await expect.poll(() => title.textContent()).toBe(LONG_TOKEN_NAME);
    const [scrollWidth, clientWidth, textOverflow] = await title.evaluate((el) => [
      el.scrollWidth,
      el.clientWidth,
      el.ownerDocument.defaultView?.getComputedStyle(el).textOverflow,
    ]);
    expect(scrollWidth, "the title is cut").toBeLessThanOrEqual(clientWidth);
    expect(textOverflow).toBe("clip");
    await expectInsideViewport(page, title, "token title");
    await expectNoSidewaysScroll(page, "token page, 375 px");
    await screenshot(page, "phone-375-token-page", { fullPage: false });
    await page.context().close();
  }, 60_000);

  it("keeps the Security page within 320 px: a long button label wraps", async () => {
    const { owner } = await seedExpiring([]);
    const page = await phonePage(320, owner);
    await page.goto("/security");
    const setUp = page.getByRole("button", { name: "Set up two-factor authentication" });
    await setUp.waitFor();
    await expectInsideViewport(page, setUp, "the two-factor button");
    await expectNoSidewaysScroll(page, "Security page, 320 px");
    await page.context().close();
  }, 60_000);
});
