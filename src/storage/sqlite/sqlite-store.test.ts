import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";
import { defineStoreContract } from "../store-contract.js";
import { createSqliteStore } from "./sqlite-store.js";

const root = mkdtempSync(join(tmpdir(), "keyward-sqlite-contract-"));
let files = 0;

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

defineStoreContract("SQLite", () => createSqliteStore({ path: join(root, `${++files}.db`) }));
