import { generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import { describe, expect, it } from "vitest";
import { bearer, createToken, signUpWithApp } from "../test-support/harness.js";
import { setUpTestServer } from "../test-support/server-fixture.js";

// GitHub's secret-scanning partner format, with keys and signatures made here: GitHub's
// own key pair stands in as one the operator configured, another as a stranger's.

const newKey = () => generateKeyPairSync("ec", { namedCurve: "prime256v1" });
const github = newKey();
const stranger = newKey();
const KEY_ID = "90a421169f0a406205f1563a953312f0be898d3c7b6c06b681aa86a874555f4a";
const keysDocument = JSON.stringify({
  public_keys: [
    {
      key_identifier: KEY_ID,
      key: github.publicKey.export({ type: "spki", format: "pem" }),
      is_current: true,
    },
  ],
});

const server = setUpTestServer({ GITHUB_SECRET_SCANNING_KEYS: keysDocument });
const unconfigured = setUpTestServer();

function signed(body: string, key: KeyObject = github.privateKey, keyId = KEY_ID) {
  return {
    "content-type": "application/json",
    "github-public-key-identifier": keyId,
    "github-public-key-signature": sign("sha256", Buffer.from(body), key).toString("base64"),
  };
}

async function post(baseUrl: string, body: string, headers: Record<string, string>) {
  const res = await fetch(`${baseUrl}/api/v1/leaks/github`, { method: "POST", body, headers });
  return { status: res.status, body: (await res.json()) as unknown };
}

const status = async (token: string) =>
  (await fetch(`${server.baseUrl}/api`, { headers: bearer(token) })).status;

async function tokenOfOurs(): Promise<string> {
  const { client, appId } = await signUpWithApp(server.baseUrl);
  return (await createToken(client, appId, { name: "leaked" })).token;
}

const match = (token: string) => ({
  token,
  type: "keyward_token",
  url: "https://github.com/octo/repo/blob/abc/config.yml",
  source: "content",
});

describe("POST /api/v1/leaks/github", () => {
  it("revokes a reported token of ours and labels every match in GitHub's format", async () => {
    const token = await tokenOfOurs();
    expect(await status(token)).toBe(200);
    const body = JSON.stringify([match(token), match("kw_notarealtokenatall"), match(token)]);
    const res = await post(server.baseUrl, body, signed(body));
    expect(res.status).toBe(200);
    expect(res.body).toEqual([
      { token_raw: token, token_type: "keyward_token", label: "true_positive" },
      { token_raw: "kw_notarealtokenatall", token_type: "keyward_token", label: "false_positive" },
      { token_raw: token, token_type: "keyward_token", label: "true_positive" },
    ]);
    expect(await status(token)).toBe(401);
    // Reported again once revoked: still a real token of ours, nothing more to do.
    const again = await post(server.baseUrl, body, signed(body));
    expect((again.body as { label: string }[])[0]?.label).toBe("true_positive");
  });

  it("refuses a report signed by another key, with an unknown key id, unsigned, or altered after signing; nothing is revoked", async () => {
    const token = await tokenOfOurs();
    const body = JSON.stringify([match(token)]);
    const attempts: [string, string, Record<string, string>][] = [
      ["another key", body, signed(body, stranger.privateKey)],
      ["unknown key id", body, signed(body, github.privateKey, "not-a-configured-key")],
      ["unsigned", body, { "content-type": "application/json" }],
      ["altered body", `${body} `, signed(body)],
      ["signature of another body", body, signed(JSON.stringify([match("kw_other")]))],
      [
        "garbage signature",
        body,
        { ...signed(body), "github-public-key-signature": "bm90IGEgc2lnbmF0dXJl" },
      ],
    ];
    for (const [what, sent, headers] of attempts) {
      const res = await post(server.baseUrl, sent, headers);
      expect(res.status, what).toBe(401);
      expect((res.body as { code: string }).code, what).toBe("invalid_signature");
      expect(JSON.stringify(res.body), what).not.toContain(token);
    }
    expect(await status(token)).toBe(200);
  });

  it("refuses a body that is not GitHub's format, even when signed", async () => {
    const body = JSON.stringify({ tokens: ["kw_x"] });
    const res = await post(server.baseUrl, body, signed(body));
    expect(res.status).toBe(400);
  });

  it("answers 404 when the operator configured no GitHub keys", async () => {
    const body = JSON.stringify([match("kw_x")]);
    const res = await post(unconfigured.baseUrl, body, signed(body));
    expect(res.status).toBe(404);
    expect(JSON.stringify(res.body)).toContain("GITHUB_SECRET_SCANNING_KEYS");
  });
});
