import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openStore } from "../src/compose.js";
import { loadConfig } from "../src/config.js";
import { generateToken, hashToken, tokenHint } from "../src/core/token.js";
import { serviceKeyPrefix } from "../src/services/service-keys.js";
import type { BenchRun } from "./run-state.js";
import { DEFAULT_CHUNK, DEFAULT_TOKENS_PER_USER, seedBench } from "./seed.js";

/** The files a seeded store comes with, for the wrk scripts. */
export interface SeedFiles {
  /** Plaintext tokens of the store, one per fixed-width line (tokens.lua). */
  tokensFile: string;
  /** "<session cookie value> <application id>" per session user (create-token.lua). */
  sessionsFile: string;
  seedSeconds: number;
  tokens: number;
  /** A service key of the hot token's application (case 14). */
  serviceKey: string;
}

/** A seeded store as the cases use it. */
export interface SeededStore extends SeedFiles {
  /** Made-up tokens no store holds (case 4). */
  fakeTokensFile: string;
  /** The one valid token of cases 2 and 5. */
  hotToken: string;
}

/**
 * Fills an empty store with `count` synthetic tokens through the seeder (bench/seed.ts),
 * in this process. With --work-dir, a SQLite store seeded by an earlier run is reused.
 */
export async function seedStore(
  run: BenchRun,
  databaseUrl: string,
  count: number,
  name: string,
): Promise<SeedFiles> {
  const { workDir, keepWork } = run.options;
  const tokensFile = join(workDir, `${name}-tokens.txt`);
  const sessionsFile = join(workDir, `${name}-sessions.txt`);
  const doneFile = join(workDir, `${name}-${count}.seeded`);
  const serviceKeyFile = join(workDir, `${name}-service-key.txt`);
  if (
    keepWork &&
    databaseUrl.startsWith("sqlite:") &&
    existsSync(doneFile) &&
    existsSync(serviceKeyFile)
  ) {
    run.log(`reusing the seeded store ${name} (${count} tokens) in ${workDir}`);
    const serviceKey = readFileSync(serviceKeyFile, "utf8").trim();
    return { tokensFile, sessionsFile, seedSeconds: 0, tokens: count, serviceKey };
  }
  if (databaseUrl.startsWith("sqlite:")) {
    const file = databaseUrl.slice("sqlite:".length);
    for (const suffix of ["", "-wal", "-shm"]) rmSync(`${file}${suffix}`, { force: true });
  }
  const t0 = Date.now();
  let summaryLine = "";
  try {
    await seedBench(
      { DATABASE_URL: databaseUrl },
      {
        tokens: count,
        tokensPerUser: DEFAULT_TOKENS_PER_USER,
        sessionUsers: run.settings.sessionUsers,
        seed: name,
        tokensOut: tokensFile,
        sessionsOut: sessionsFile,
        chunk: DEFAULT_CHUNK,
      },
      (line) => {
        summaryLine = line;
      },
    );
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`seeding ${name} failed: ${message}`, { cause: error });
  }
  const seconds = (Date.now() - t0) / 1000;
  run.log(`${summaryLine} (wall ${seconds.toFixed(1)} s)`);
  const serviceKey = await addServiceKey(databaseUrl, tokenAt(tokensFile, 0));
  writeFileSync(serviceKeyFile, `${serviceKey}\n`);
  if (keepWork) writeFileSync(doneFile, "");
  return { tokensFile, sessionsFile, seedSeconds: seconds, tokens: count, serviceKey };
}

/**
 * Gives the hot token's application a service key, through the store as the server
 * would write it (the seeder writes none), and returns the key.
 */
async function addServiceKey(databaseUrl: string, hotToken: string): Promise<string> {
  const store = await openStore(loadConfig({ DATABASE_URL: databaseUrl }), { role: "tool" });
  try {
    const token = await store.tokens.findSecret(hashToken(hotToken));
    if (!token) throw new Error("the seeded hot token is not in the store");
    const random = { bytes: (n: number) => randomBytes(n) };
    const key = generateToken(random, serviceKeyPrefix("kw"));
    await store.serviceKeys.insertServiceKey({
      id: `key_bench${randomBytes(6).toString("hex")}`,
      applicationId: token.applicationId,
      name: "bench",
      hint: tokenHint(key, serviceKeyPrefix("kw")),
      createdAt: Date.now(),
      secretHash: hashToken(key),
      createdBy: token.userId,
    });
    return key;
  } finally {
    await store.close();
  }
}

/** The token on line `index` of a tokens file (all lines have the same width). */
export function tokenAt(file: string, index: number): string {
  const text = readFileSync(file, "utf8");
  const width = text.indexOf("\n") + 1;
  return text.slice(index * width, index * width + width - 1);
}

/** Made-up tokens with a valid prefix, length and checksum: none exists in any store. */
export function writeFakeTokens(run: BenchRun, count: number): string {
  const file = join(run.options.workDir, "fake-tokens.txt");
  const random = { bytes: (n: number) => randomBytes(n) };
  const lines: string[] = [];
  for (let i = 0; i < count; i++) lines.push(generateToken(random, "kw"));
  writeFileSync(file, `${lines.join("\n")}\n`);
  return file;
}

/** A seeded store with the files every case needs. */
export function storeForCases(files: SeedFiles, fakeTokensFile: string): SeededStore {
  return { ...files, fakeTokensFile, hotToken: tokenAt(files.tokensFile, 0) };
}
