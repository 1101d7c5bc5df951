import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CLIENT_CONTRACT_FILE, generateClientContract } from "../scripts/generate-client-types.js";

// keyward-client's types come from the server's contract: the committed file must be what
// `npm run generate:client` prints from the schemas today.
describe("keyward-client's generated contract types", () => {
  it("match the server's schemas (run `npm run generate:client` after changing them)", () => {
    expect(readFileSync(CLIENT_CONTRACT_FILE, "utf8")).toBe(generateClientContract());
  });
});
