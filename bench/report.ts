import type { BareReferenceResult } from "./bare.js";
import { CASES, type CaseRow, FULL_CACHE_ENTRIES } from "./cases.js";
import type { ClientAdapterResult } from "./client-adapter.js";
import type { ClientRevocationResult } from "./client-revocation.js";
import type { MachineInfo } from "./machine.js";
import type { MetricsCostResult } from "./metrics-cost.js";
import type { PeerResult } from "./peer.js";
import type { RevocationResult } from "./revocation.js";
import type { RevocationUnderLoadResult } from "./revocation-under-load.js";
import type { BenchRun, FullCacheResult, SeedSeconds } from "./run-state.js";
import { type BenchSettings, ROOT } from "./settings.js";
import type { StreamFanOutResult } from "./stream-fanout.js";

export interface TargetCheck {
  target: string;
  met: boolean;
  measured: string;
}

/** What a run writes to bench/results/ (and the report prints). */
export interface BenchResult {
  startedAt: string;
  command: string;
  machine: MachineInfo;
  settings: BenchSettings;
  rows: CaseRow[];
  revocation: RevocationResult | undefined;
  revocationUnderLoad?: RevocationUnderLoadResult | undefined;
  streamFanOut: StreamFanOutResult | undefined;
  fullCache: FullCacheResult | undefined;
  /** Case 0: bare node:http against case 1 (issue 15). */
  bare?: BareReferenceResult | undefined;
  /** Case 12: Better Auth's API-key plugin against case 2 (performance, round two). */
  peer?: PeerResult | undefined;
  clientAdapter: ClientAdapterResult | undefined;
  clientRevocation?: ClientRevocationResult | undefined;
  metricsCost?: MetricsCostResult | undefined;
  seedSeconds: SeedSeconds;
  targets: TargetCheck[];
  skipped: string[];
  notices: string[];
  totalSeconds: number;
}

/**
 * A measured figure checked against a bound, to `digits` decimals; to more when those
 * would round it onto the bound or past it (0.7968 against 0.8 reads "0.797", not a
 * missed "0.80"), so the printed figure is on the same side of the bound as the value and
 * never contradicts its verdict.
 */
export function figureText(value: number, bound: number, digits = 2): string {
  if (!Number.isFinite(value)) return String(value);
  const side = Math.sign(value - bound);
  let shown = digits;
  while (shown < 20 && Math.sign(Number(value.toFixed(shown)) - bound) !== side) shown++;
  return value.toFixed(shown);
}

/** The targets of issue 6, checked on the numbers of this run. */
export function checkTargets(run: BenchRun): TargetCheck[] {
  const { rows, settings } = run;
  const find = (backend: string, store: string, n: number) =>
    rows.find((r) => r.backend === backend && r.store === store && r.case === n);
  const large = `${settings.tokens.toLocaleString("en")} tokens`;
  const small = `${settings.smallTokens.toLocaleString("en")} tokens`;
  const out: TargetCheck[] = [];
  const check = (target: string, met: boolean, measured: string) =>
    out.push({ target, met, measured });
  const c2 = find("sqlite", large, 2);
  const bare = run.bare;
  if (bare) {
    const h = bare.healthzOverBare;
    // What node:http itself keeps with one access line a request, the condition these two
    // targets are set in: a target near it leaves no room for a framework, routing or checks.
    const floor = `; node:http itself with an access line: ${bare.bareWithLineOverBare.toFixed(2)}`;
    check(
      "case 1 (/healthz) ≥ 0.85 × case 0 (bare node:http)",
      h >= 0.85,
      `${figureText(h, 0.85)} (CPU per request ${bare.healthzCpuOverBare.toFixed(2)}×${floor})`,
    );
    if (c2) {
      const r = c2.ratio * h;
      check(
        "case 2 ≥ 0.75 × case 0 (bare node:http)",
        r >= 0.75,
        `${figureText(r, 0.75)} (${c2.ratio.toFixed(2)} × case 1, which is ${h.toFixed(2)} × case 0${floor})`,
      );
    }
  }
  const peer = run.peer;
  if (peer) {
    check(
      "case 2 ≥ 25 × case 12 (Better Auth's API-key plugin, SQLite, rate limit off)",
      peer.apiOverPeer >= 25 && peer.peerRefused === 0,
      `${figureText(peer.apiOverPeer, 25, 1)} (CPU per request ${peer.apiCpuOverPeer.toFixed(1)}×)` +
        (peer.peerRefused > 0 ? `; the peer refused ${peer.peerRefused} requests` : ""),
    );
  }
  if (c2) {
    check("case 2 ≥ 0.9 × case 1", c2.ratio >= 0.9, figureText(c2.ratio, 0.9));
    check(
      "p99 of case 2 ≤ 1.5 × p99 of case 1 (flushes included)",
      c2.p99Ratio <= 1.5,
      `${figureText(c2.p99Ratio, 1.5)} (worst pair ${(c2.p99RatioWorst ?? Number.NaN).toFixed(2)})`,
    );
  }
  const c3 = find("sqlite", large, 3);
  if (c3) check("case 3 ≥ 0.45 × case 1 (SQLite)", c3.ratio >= 0.45, figureText(c3.ratio, 0.45));
  const pgLarge = `${settings.pgTokens.toLocaleString("en")} tokens`;
  const c4 = find("sqlite", large, 4);
  if (c4) check("case 4 ≥ 0.8 × case 1 (SQLite)", c4.ratio >= 0.8, figureText(c4.ratio, 0.8));
  const c4pg = find("postgres", pgLarge, 4);
  if (c4pg)
    check("case 4 ≥ 0.8 × case 1 (PostgreSQL)", c4pg.ratio >= 0.8, figureText(c4pg.ratio, 0.8));
  for (const backend of ["sqlite", "postgres"]) {
    const c5 = find(backend, backend === "sqlite" ? large : pgLarge, 5);
    if (c5)
      check(
        `case 5 (POST /api/v1/verify) ≥ 0.8 × case 1 (${backend === "sqlite" ? "SQLite" : "PostgreSQL"})`,
        c5.ratio >= 0.8,
        figureText(c5.ratio, 0.8),
      );
  }
  for (const backend of ["sqlite", "postgres"]) {
    const c14 = find(backend, backend === "sqlite" ? large : pgLarge, 14);
    if (c14)
      check(
        `case 14 (POST /api/v1/service/verify) ≥ 0.8 × case 1 (${backend === "sqlite" ? "SQLite" : "PostgreSQL"})`,
        c14.ratio >= 0.8,
        figureText(c14.ratio, 0.8),
      );
  }
  const quiet = rows.filter((r) => r.case <= 5);
  if (quiet.length > 0) {
    const bad = quiet.filter(
      (r) => (r.flushes === 0 && r.writes > 0) || r.flushes > r.flushesAllowed,
    );
    check(
      "cases 1-5: no storage write but batched flushes (≤ 1 per interval)",
      bad.length === 0,
      bad.length === 0
        ? "all cases"
        : bad.map((r) => `${r.backend} case ${r.case}: ${r.writes} writes`).join(", "),
    );
  }
  const largeRows = rows.filter((r) => r.backend === "sqlite" && r.store === large);
  if (largeRows.length > 0) {
    const full = run.fullCache;
    const peak = Math.max(...largeRows.map((r) => r.peakRssMiB), full?.peakRssMiB ?? 0);
    // The target is set for a full cache: a lower peak with the cache short of full is
    // reported, but not counted as the target met.
    const filled = full !== undefined && full.entries >= FULL_CACHE_ENTRIES;
    check(
      `peak RSS ≤ 200 MiB (${large}, default cache full)`,
      peak <= 200 && filled,
      `${figureText(peak, 200, 0)} MiB${
        full === undefined
          ? " (cache not filled)"
          : filled
            ? ` (cache filled to ${full.entries} entries)`
            : ` with the cache at most ${full.entries} of ${FULL_CACHE_ENTRIES} entries: case 3 does not fill it here (expired entries are swept out, tokens seen once enter at a bounded rate), so a full cache is not measured`
      }`,
    );
  }
  const c6 = find("sqlite", large, 6);
  if (c6)
    check(
      "case 6 ≥ 300 tokens/s (SQLite, synchronous=FULL)",
      c6.rps >= 300,
      figureText(c6.rps, 300, 0),
    );
  const big = find("sqlite", large, 3);
  const little = find("sqlite", small, 3);
  if (big && little) {
    const r = big.ratio / little.ratio;
    check(`case 3: ${large} within 10% of ${small}`, r >= 0.9, figureText(r, 0.9));
  }
  const bigOff = find("sqlite", `${large}, cache off`, 3);
  const littleOff = find("sqlite", `${small}, cache off`, 3);
  if (bigOff && littleOff) {
    const r = bigOff.ratio / littleOff.ratio;
    check(`case 3, cache off: ${large} within 10% of ${small}`, r >= 0.9, figureText(r, 0.9));
  }
  const client = run.clientAdapter;
  if (client) {
    check(
      "case 8: Fastify route behind keyward-client ≥ 0.9 × the same route without authentication",
      client.ratio >= 0.9,
      `${figureText(client.ratio, 0.9)} (${client.protectedRps.toFixed(0)} / ${client.openRps.toFixed(0)} rps; CPU per request ${client.cpuRatio.toFixed(2)}×)`,
    );
    check(
      "case 8: made-up tokens refused with zero calls to Keyward",
      client.madeUpKeywardCalls === 0 && client.madeUpRefused === client.madeUpSent,
      `${client.madeUpRefused}/${client.madeUpSent} refused, ${client.madeUpKeywardCalls} calls`,
    );
  }
  const underLoad = run.revocationUnderLoad;
  if (underLoad) {
    check(
      "case 13: revocation under load (≥ half capacity) p99 ≤ 100 ms and max ≤ 1 s",
      underLoad.share >= 0.5 &&
        (underLoad.p99Ms ?? Infinity) <= 100 &&
        (underLoad.maxMs ?? Infinity) <= 1000,
      `p99 ${figureText(underLoad.p99Ms ?? Number.NaN, 100, 1)} ms, max ${figureText(underLoad.maxMs ?? Number.NaN, 1000, 1)} ms at ${figureText(100 * underLoad.share, 50, 0)} % of capacity`,
    );
  }
  const cost = run.metricsCost;
  if (cost) {
    check(
      "case 11: recording metrics costs a verified request < 1 µs",
      cost.nsPerVerification < 1000,
      `${figureText(cost.nsPerVerification, 1000, 0)} ns (median of ${cost.rounds} rounds of ${cost.iterations.toLocaleString("en")})`,
    );
  }
  return out;
}

export function formatTable(rows: CaseRow[], bare?: BareReferenceResult): string {
  const header = [
    "store",
    "case",
    "req/s",
    "× case 1",
    "× case 0",
    "p50 ms",
    "p99 ms",
    "p99 × c1",
    "CPU µs/req",
    "CPU × c1",
    "RSS MiB",
    "writes (flushes)",
    "note",
  ];
  const lines = rows.map((r) => [
    `${r.backend}, ${r.store}`,
    String(r.case),
    r.rps.toFixed(0),
    r.case === 1 ? "1" : r.ratio.toFixed(2),
    bare === undefined ? "" : ((r.case === 1 ? 1 : r.ratio) * bare.healthzOverBare).toFixed(2),
    r.p50Ms.toFixed(2),
    r.p99Ms.toFixed(2),
    r.case === 1 ? "1" : r.p99Ratio.toFixed(2),
    r.cpuUsPerRequest.toFixed(0),
    r.case === 1 ? "1" : r.cpuRatio.toFixed(2),
    `${r.peakRssMiB.toFixed(0)}${r.peakRssSinceStart ? "*" : ""}`,
    `${r.writes} (${r.flushes})`,
    r.problem,
  ]);
  const widths = header.map((h, i) =>
    Math.max(h.length, ...lines.map((l) => (l[i] as string).length)),
  );
  const format = (cells: string[]) =>
    `| ${cells.map((c, i) => c.padEnd(widths[i] as number)).join(" | ")} |`;
  return [
    format(header),
    `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`,
    ...lines.map(format),
  ].join("\n");
}

function relativeToRoot(path: string): string {
  return path.startsWith(ROOT) ? path.slice(ROOT.length + 1) : path;
}

/** The human-readable report on stdout, after the run. */
export function printReport(run: BenchRun, result: BenchResult): void {
  const { settings } = run;
  const quick = settings.quick;
  console.log("");
  console.log(`Keyward benchmark${quick ? " (quick smoke run: numbers are not meaningful)" : ""}`);
  const m = result.machine;
  console.log(
    `machine: ${m.nproc} cores, ${m.cpuModel}, ${m.memoryGiB} GiB, Node ${m.node}, wrk ${m.wrk ?? "absent"}, ` +
      `${m.pinned ? `server on CPU ${m.pinned.server}, wrk on CPU ${m.pinned.loadGenerator}` : "not pinned"}, ` +
      `load average at start ${m.loadAverage}`,
  );
  console.log(
    `slices: ${settings.pairs} pairs of ${settings.sliceSeconds} s per case (ABBA with case 1; ` +
      `${Math.min(2, settings.pairs)} in the cache-off and logging stages), ` +
      `wrk -t1 -c${settings.connections}; medians over slices; flush interval ${settings.flushIntervalMs} ms`,
  );
  console.log("");
  if (result.rows.length > 0) console.log(formatTable(result.rows, result.bare));
  console.log("");
  if (result.bare) {
    const b = result.bare;
    console.log(
      `  case 0: bare node:http answering GET /api's body, ${b.bareRps.toFixed(0)} req/s, ` +
        `${b.bareCpuUsPerRequest.toFixed(1)} CPU µs/req; /healthz (${b.stage}) is ${b.healthzOverBare.toFixed(2)} × case 0 (paired); ` +
        "× case 0 = × case 1 × that",
    );
    console.log(
      `  case 0 with an access line a request (built by hand, gathered into a file): ` +
        `${b.bareWithLineOverBare.toFixed(2)} × case 0 (paired), ${b.bareWithLineCpuUsPerRequest.toFixed(1)} CPU µs/req`,
    );
  }
  if (result.peer) {
    const p = result.peer;
    console.log(
      `  case 12: Better Auth's API-key plugin (verifyApiKey, SQLite WAL, rate limit off) answering GET /api's body, ` +
        `${p.peerRps.toFixed(0)} req/s, ${p.peerCpuUsPerRequest.toFixed(0)} CPU µs/req; case 2 (${p.stage}) is ` +
        `${p.apiOverPeer.toFixed(1)} × case 12 (paired; CPU per request ${p.apiCpuOverPeer.toFixed(1)}×)`,
    );
  }
  for (const [n, c] of Object.entries(CASES)) console.log(`  case ${n}: ${c.title}`);
  console.log("  case 7: revocation propagation between two processes (PostgreSQL)");
  console.log("  case 9: revocation stream fan-out, 100 streams on the other process (PostgreSQL)");
  console.log(
    "  case 13: case 7 while three processes serve case 2 (8 connections each; PostgreSQL)",
  );
  console.log(
    "  × case 1: requests/s over case 1's in the paired slice (median of pairs); CPU µs/req: server CPU\n" +
      "  time per request (user+sys), CPU × c1: case 1's CPU per request over this case's (paired),\n" +
      "  a capacity ratio that other load on the machine disturbs less; writes: storage write statements\n" +
      "  in the case's window (flushes: usage batches written); * = peak RSS since server start",
  );
  if (result.revocation) {
    const r = result.revocation;
    console.log(
      `\ncase 7 (PostgreSQL): ${r.revocations} revocations, refused by the other process after ` +
        `p50 ${r.p50Ms?.toFixed(1)} ms, p99 ${r.p99Ms?.toFixed(1)} ms, max ${r.maxMs?.toFixed(1)} ms` +
        (r.neverRefusedWithin10s ? `; ${r.neverRefusedWithin10s} not refused within 10 s` : ""),
    );
  }
  if (result.revocationUnderLoad) {
    const r = result.revocationUnderLoad;
    console.log(
      `\ncase 13 (PostgreSQL): ${r.revocations} revocations while three processes served ` +
        `${r.servedRps.toFixed(0)} verified req/s (${(100 * r.share).toFixed(0)} % of the ` +
        `${r.capacityRps.toFixed(0)} they serve saturated): refused by the other process after ` +
        `p50 ${r.p50Ms?.toFixed(1)} ms, p99 ${r.p99Ms?.toFixed(1)} ms, max ${r.maxMs?.toFixed(1)} ms` +
        (r.neverRefusedWithin10s ? `; ${r.neverRefusedWithin10s} not refused within 10 s` : ""),
    );
  }
  if (result.streamFanOut) {
    const f = result.streamFanOut;
    console.log(
      `\ncase 9 (PostgreSQL): ${f.revocations} revocations on one process, each to ${f.streams} ` +
        `revocation streams on the other: last stream after p50 ${f.lastReaderP50Ms?.toFixed(1)} ms, ` +
        `p99 ${f.lastReaderP99Ms?.toFixed(1)} ms, max ${f.lastReaderMaxMs?.toFixed(1)} ms ` +
        `(first stream p50 ${f.firstReaderP50Ms?.toFixed(1)} ms), from the revocation's 204`,
    );
  }
  if (result.clientRevocation) {
    const c = result.clientRevocation;
    console.log(
      `\ncase 10 (PostgreSQL): ${c.revocations} revocations on one process, keyward-client ` +
        `following the other's stream refused each after p50 ${c.streamP50Ms?.toFixed(1)} ms, ` +
        `p99 ${c.streamP99Ms?.toFixed(1)} ms, max ${c.streamMaxMs?.toFixed(1)} ms (from the 204); ` +
        `with the stream off and cacheMaxAgeMs ${c.cutCacheMaxAgeMs}, a revoked token was ` +
        `accepted at most ${c.cutMaxAcceptedMs?.toFixed(0)} ms over ${c.cutRevocations} revocations`,
    );
  }
  if (result.metricsCost) {
    const m = result.metricsCost;
    console.log(
      `\ncase 11: recording metrics per verified request ${m.nsPerVerification.toFixed(0)} ns ` +
        `(cache hit, outcome, request duration; median of ${m.rounds} rounds); one scrape ${m.scrapeMs.toFixed(1)} ms`,
    );
  }
  if (result.fullCache) {
    const f = result.fullCache;
    console.log(
      `\npeak RSS under case 3 until the cache filled or levelled off (SQLite, large store): ` +
        `${f.peakRssMiB.toFixed(0)} MiB, at most ${f.entries} cache entries (${f.seconds.toFixed(0)} s of case 3)`,
    );
  }
  console.log(
    `\nseed: ${Object.entries(result.seedSeconds)
      .map(([k, v]) => `${k} ${v.toFixed(1)} s`)
      .join(", ")}`,
  );
  if (result.targets.length > 0) {
    console.log(
      `\ntargets (issue 6; performance, round two)${quick ? ", not meaningful in a quick run" : ""}:`,
    );
    for (const t of result.targets)
      console.log(`  ${t.met ? "met   " : "MISSED"}  ${t.target}: ${t.measured}`);
  }
  for (const s of result.skipped) console.log(`skipped: ${s}`);
  console.log(
    `\nresults: ${relativeToRoot(run.options.outFile)}; total ${(run.elapsedMs() / 1000).toFixed(0)} s`,
  );
}
