import { setTimeout as sleep } from "node:timers/promises";
import { ENVIRONMENT_VARIABLES } from "../src/config.js";
import type { BenchRun, FullCacheResult } from "./run-state.js";
import type { SeededStore } from "./seeding.js";
import {
  type BenchServer,
  peakRssMiB,
  readMetrics,
  resetPeakRss,
  type ServerMetrics,
} from "./server.js";
import type { Backend } from "./settings.js";
import { runSlice, type WrkSlice } from "./wrk.js";

interface CaseDefinition {
  title: string;
  /** What every answer must be: a success, or a refusal (status 400 or more). */
  expect: "ok" | "refused";
}

/** Cases 1-6, driven by wrk; case 7 is bench/revocation.ts. */
export const CASES: Record<number, CaseDefinition> = {
  1: { title: "GET /healthz (floor of our stack)", expect: "ok" },
  2: { title: "GET /api, one valid token (hot cache)", expect: "ok" },
  3: { title: "GET /api, tokens uniform over the store", expect: "ok" },
  4: { title: "GET /api, made-up tokens (valid checksum)", expect: "refused" },
  5: { title: "POST /api/v1/verify, one valid token", expect: "ok" },
  6: { title: "token creation (API, session cookies)", expect: "ok" },
  14: { title: "POST /api/v1/service/verify, one valid token (service key)", expect: "ok" },
};

function caseDefinition(n: number): CaseDefinition {
  const definition = CASES[n];
  if (!definition) throw new Error(`no case ${n}`);
  return definition;
}

/** One server process on one store: case 1 alone, then each case alternated with it. */
export interface Stage {
  label: string;
  backend: Backend;
  storeLabel: string;
  /** Slice pairs per case, when fewer than the run's. */
  pairs?: number;
}

/** A case slice and the case-1 slice run next to it. */
export interface SlicePair {
  base: WrkSlice;
  case: WrkSlice;
}

/** Medians (and worst values) over a case's slices. */
export interface SliceSummary {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  p99WorstMs: number;
  maxMs: number;
  requests: number;
  cpuUsPerRequest: number;
  serverCpuShare: number;
}

/** One line of the table and of the JSON results. */
export interface CaseRow extends SliceSummary {
  stage: string;
  backend: Backend;
  store: string;
  case: number;
  title: string;
  /** Requests/s over case 1's in the paired slice (median of pairs); 1 for case 1. */
  ratio: number;
  /** Paired cases only: the lowest and highest ratio of the pairs. */
  ratioRange?: [number, number];
  p99Ratio: number;
  /** Case 1's CPU per request over this case's (paired). */
  cpuRatio: number;
  /** Paired cases only: the highest p99 ratio of the pairs. */
  p99RatioWorst?: number;
  peakRssMiB: number;
  /** The peak could not be reset before the case: it counts from the server's start. */
  peakRssSinceStart: boolean;
  writes: number;
  reads: number;
  flushes: number;
  /** At most one usage flush per interval of the case's window, and one more. */
  flushesAllowed: number;
  cacheEntries: number;
  windowSeconds: number;
  /** Answers the case did not expect, or "". */
  problem: string;
  slices: WrkSlice[] | SlicePair[];
}

function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const m = Math.floor(s.length / 2);
  const at = (i: number) => s[i] as number;
  return s.length % 2 ? at(m) : (at(m - 1) + at(m)) / 2;
}

export function summarize(slices: WrkSlice[]): SliceSummary {
  return {
    rps: median(slices.map((s) => s.rps)),
    p50Ms: median(slices.map((s) => s.p50Ms)),
    p99Ms: median(slices.map((s) => s.p99Ms)),
    p99WorstMs: Math.max(...slices.map((s) => s.p99Ms)),
    maxMs: Math.max(...slices.map((s) => s.maxMs)),
    requests: slices.reduce((n, s) => n + s.requests, 0),
    cpuUsPerRequest: median(slices.map((s) => s.cpuUsPerRequest)),
    serverCpuShare: median(slices.map((s) => s.serverCpuShare)),
  };
}

/** Checks a case's answers against what the case expects; returns a note or "". */
function answerProblem(caseNumber: number, slices: WrkSlice[]): string {
  const requests = slices.reduce((n, s) => n + s.requests, 0);
  const refused = slices.reduce((n, s) => n + s.refused, 0);
  const socket = slices.reduce((n, s) => n + s.socketErrors, 0);
  const expect = caseDefinition(caseNumber).expect;
  const notes: string[] = [];
  if (expect === "ok" && refused > 0) notes.push(`${refused} answers ≥ 400`);
  if (expect === "refused" && refused < requests) notes.push(`${requests - refused} answers < 400`);
  if (socket > 0) notes.push(`${socket} socket errors`);
  return notes.join("; ");
}

/** Storage and cache counters over a case's window. */
function countersBetween(
  run: BenchRun,
  before: ServerMetrics,
  after: ServerMetrics,
  windowMs: number,
) {
  return {
    writes: after.writes - before.writes,
    reads: after.reads - before.reads,
    flushes: after.flushes - before.flushes,
    flushesAllowed: Math.ceil(windowMs / run.settings.flushIntervalMs) + 1,
    cacheEntries: after.cacheEntries,
    windowSeconds: windowMs / 1000,
  };
}

/**
 * Waits until the case's last counts have reached storage (nothing unflushed, and the
 * write counter still between two reads), so every flush is counted with its own case.
 */
async function settle(run: BenchRun, server: BenchServer): Promise<ServerMetrics> {
  await sleep(run.settings.flushIntervalMs + 200);
  let last = await readMetrics(server);
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    await sleep(300);
    const now = await readMetrics(server);
    if (now.unflushed === 0 && now.writes === last.writes && now.flushes === last.flushes)
      return now;
    last = now;
  }
  run.notice(`notice: ${server.label}: usage still flushing 20 s after a case`);
  return last;
}

/**
 * Case 1 alone first: its own writes (there must be none) and a warm JIT. Its slices go
 * into `baseSlices` too.
 */
async function baseCase(
  run: BenchRun,
  server: BenchServer,
  store: SeededStore,
  stage: Stage,
  baseSlices: WrkSlice[],
): Promise<CaseRow> {
  const { settings } = run;
  if (settings.warmupSeconds > 0) await runSlice(run, 1, server, store, settings.warmupSeconds);
  const before = await readMetrics(server);
  const peakReset = resetPeakRss(server);
  const t0 = Date.now();
  const slices = [await runSlice(run, 1, server, store, settings.sliceSeconds)];
  const after = await readMetrics(server);
  baseSlices.push(...slices);
  return {
    stage: stage.label,
    backend: stage.backend,
    store: stage.storeLabel,
    case: 1,
    title: caseDefinition(1).title,
    ...summarize(slices),
    ratio: 1,
    p99Ratio: 1,
    cpuRatio: 1,
    peakRssMiB: peakRssMiB(server),
    peakRssSinceStart: !peakReset,
    ...countersBetween(run, before, after, Date.now() - t0),
    problem: answerProblem(1, slices),
    slices,
  };
}

/**
 * Runs case `n` alternated with case 1 on the same server: pairs of slices, in ABBA
 * order so a drift of the machine during the run falls on both alike. The case-1 slices
 * go into `baseSlices` too.
 */
async function pairedCase(
  run: BenchRun,
  n: number,
  server: BenchServer,
  store: SeededStore,
  stage: Stage,
  baseSlices: WrkSlice[],
): Promise<CaseRow> {
  const { settings } = run;
  const pairCount = stage.pairs ?? settings.pairs;
  if (settings.warmupSeconds > 0) await runSlice(run, n, server, store, settings.warmupSeconds);
  const before = await readMetrics(server);
  const peakReset = resetPeakRss(server);
  const t0 = Date.now();
  const pairs: SlicePair[] = [];
  for (let i = 0; i < pairCount; i++) {
    const order = i % 2 === 0 ? [1, n] : [n, 1];
    const pair = new Map<number, WrkSlice>();
    for (const c of order)
      pair.set(c, await runSlice(run, c, server, store, settings.sliceSeconds));
    pairs.push({ base: pair.get(1) as WrkSlice, case: pair.get(n) as WrkSlice });
  }
  const after = await settle(run, server);
  const windowMs = Date.now() - t0;
  const caseSlices = pairs.map((p) => p.case);
  baseSlices.push(...pairs.map((p) => p.base));
  const rpsRatios = pairs.map((p) => p.case.rps / p.base.rps);
  const p99Ratios = pairs.map((p) => p.case.p99Ms / p.base.p99Ms);
  return {
    stage: stage.label,
    backend: stage.backend,
    store: stage.storeLabel,
    case: n,
    title: caseDefinition(n).title,
    ...summarize(caseSlices),
    ratio: median(rpsRatios),
    ratioRange: [Math.min(...rpsRatios), Math.max(...rpsRatios)],
    p99Ratio: median(p99Ratios),
    cpuRatio: median(pairs.map((p) => p.base.cpuUsPerRequest / p.case.cpuUsPerRequest)),
    p99RatioWorst: Math.max(...p99Ratios),
    peakRssMiB: peakRssMiB(server),
    peakRssSinceStart: !peakReset,
    ...countersBetween(run, before, after, windowMs),
    problem: answerProblem(n, caseSlices),
    slices: pairs,
  };
}

/**
 * Runs a stage: case 1 alone, then each case alternated with case 1. Case 1's row covers
 * every case-1 slice of the stage. The rows go into the run, and are returned.
 */
export async function runStage(
  run: BenchRun,
  stage: Stage,
  server: BenchServer,
  store: SeededStore,
  cases: number[],
): Promise<CaseRow[]> {
  run.log(`${stage.label}: case 1 (alone)`);
  const baseSlices: WrkSlice[] = [];
  const base = await baseCase(run, server, store, stage, baseSlices);
  const caseRows: CaseRow[] = [];
  for (const n of cases) {
    if (run.outOfTime(`${stage.label} case ${n}`)) continue;
    run.log(`${stage.label}: case ${n} alternated with case 1`);
    caseRows.push(await pairedCase(run, n, server, store, stage, baseSlices));
  }
  Object.assign(base, summarize(baseSlices), { slices: baseSlices });
  run.rows.push(base, ...caseRows);
  return [base, ...caseRows];
}

/** The verification cache's default size (VERIFY_CACHE_SIZE): what "full" means below. */
export const FULL_CACHE_ENTRIES = Number(ENVIRONMENT_VARIABLES.VERIFY_CACHE_SIZE);

/**
 * Slices of case 3 in a row that leave the cache no larger before the fill stops: it
 * then holds what the load keeps alive (entries leave at their maximum age), and
 * running longer only lengthens the stage (three slices are 15 s, three times the
 * maximum age).
 */
const SLICES_WITHOUT_GROWTH = 3;

/**
 * Peak RSS with the verification cache at its default size: case 3 until the cache holds
 * VERIFY_CACHE_SIZE entries (100,000), bounded to 60 s, or until it stops growing. It
 * holds only answers younger than VERIFY_CACHE_MAX_AGE_MS and takes tokens seen once at
 * a bounded rate, so under case 3 it levels off far below full on a machine of this
 * size; `entries` is the most it held (the report says whether that was full).
 */
export async function fillCache(
  run: BenchRun,
  server: BenchServer,
  store: SeededStore,
): Promise<FullCacheResult> {
  const target = FULL_CACHE_ENTRIES;
  run.log(`${server.label}: case 3 until the cache holds ${target} entries (peak RSS)`);
  const t0 = Date.now();
  let entries = (await readMetrics(server)).cacheEntries;
  let most = entries;
  let slicesWithoutGrowth = 0;
  while (
    entries < target &&
    Date.now() - t0 < 60_000 &&
    slicesWithoutGrowth < SLICES_WITHOUT_GROWTH
  ) {
    await runSlice(run, 3, server, store, 5);
    entries = (await readMetrics(server)).cacheEntries;
    slicesWithoutGrowth = entries > most ? 0 : slicesWithoutGrowth + 1;
    most = Math.max(most, entries);
  }
  await settle(run, server);
  return { entries: most, peakRssMiB: peakRssMiB(server), seconds: (Date.now() - t0) / 1000 };
}
