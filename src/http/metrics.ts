import {
  type Aggregator,
  Counter,
  collectDefaultMetrics,
  Gauge,
  Histogram,
  type MetricObjectWithValues,
  type MetricType,
  type MetricValueWithName,
  Registry,
} from "prom-client";
import type { StoreStats } from "../services/ports.js";
import type { RevocationStream } from "../services/revocation-stream.js";
import { VERIFY_OUTCOMES, type VerificationCounts } from "../services/verifier.js";

/** What the metrics read at scrape time. */
export interface MetricSources {
  stats: StoreStats;
  verification: VerificationCounts;
  cacheEntries: () => number;
  usage: {
    readonly unflushedRequests: number;
    readonly flushes: number;
    onFlushed: ((seconds: number) => void) | undefined;
  };
  revocationStream: Pick<RevocationStream, "openStreams">;
}

/** Request durations in seconds: most answers take well under a millisecond. */
const REQUEST_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];
const FLUSH_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

let processRegistry: Registry | undefined;

/**
 * The process's own metrics (event-loop lag, heap, GC, handles, CPU), registered once per
 * process: they describe the process, and each registration starts its own event-loop
 * monitor and GC observer, which tests building many apps in one process would pile up.
 */
function processMetrics(): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/** One labelled series of a request histogram: counts per bucket (not cumulative), sum. */
class HistogramSeries {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Record<string, string>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    // A bucket holds values up to and including its bound (Prometheus' `le`).
    while (i < bounds.length && value > (bounds[i] as number)) i++;
    this.counts[i] = (this.counts[i] ?? 0) + 1;
    this.sum += value;
    this.count++;
  }
}

/**
 * A prom-client histogram whose series are kept as plain numbers and read at scrape time.
 * prom-client's own `observe`, even on a child from `labels()`, validates and hashes the
 * labels on every call: about 0.8 µs, most of the per-request budget (docs/performance.md).
 * Registered and exposed as any prom-client metric; only recording is ours.
 */
class RequestHistogram extends Histogram<string> {
  private readonly series: HistogramSeries[] = [];
  // Set by prom-client's constructor; its typings leave them out.
  declare readonly type: MetricType;
  declare readonly aggregator: Aggregator;

  constructor(
    private readonly config: { name: string; help: string; buckets: number[] },
    registers: Registry[],
  ) {
    super({ ...config, labelNames: ["method", "route", "status"], registers });
  }

  seriesFor(labels: Record<string, string>): HistogramSeries {
    const series = new HistogramSeries(labels, this.config.buckets);
    this.series.push(series);
    return series;
  }

  override get(): Promise<MetricObjectWithValues<MetricValueWithName<string>>> {
    return this.getForPromString();
  }

  /** What the registry reads for the text exposition (prom-client calls it before `get`). */
  async getForPromString(): Promise<MetricObjectWithValues<MetricValueWithName<string>>> {
    const { name, buckets } = this.config;
    const values: MetricValueWithName<string>[] = [];
    for (const series of this.series) {
      let cumulative = 0;
      buckets.forEach((bound, i) => {
        cumulative += series.counts[i] ?? 0;
        values.push({
          labels: { le: bound, ...series.labels },
          value: cumulative,
          metricName: `${name}_bucket`,
        });
      });
      values.push({
        labels: { le: "+Inf", ...series.labels },
        value: series.count,
        metricName: `${name}_bucket`,
      });
      values.push({ labels: series.labels, value: series.sum, metricName: `${name}_sum` });
      values.push({ labels: series.labels, value: series.count, metricName: `${name}_count` });
    }
    return {
      name,
      help: this.config.help,
      type: this.type,
      values,
      aggregator: this.aggregator,
      collect: () => {},
    };
  }
}

/**
 * Keyward's metrics through prom-client. Whatever the hot path counts is read from plain
 * numbers at scrape time (`collect`), so a verification pays for increments only; the
 * one labelled metric recorded per request, its duration, reuses one child per
 * method, route and status instead of hashing labels on every request.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly requestDuration: RequestHistogram;
  /** method → route → status → series: three small-map lookups, no key string built. */
  private readonly requestSeries = new Map<string, Map<string, Map<number, HistogramSeries>>>();

  constructor(sources: MetricSources) {
    const registers = [this.registry];
    this.requestDuration = new RequestHistogram(
      {
        name: "keyward_http_request_duration_seconds",
        help: "Time to answer a request, by method, route pattern (never the raw URL) and status.",
        buckets: REQUEST_BUCKETS,
      },
      registers,
    );
    const flushDuration = new Histogram({
      name: "keyward_usage_flush_duration_seconds",
      help: "Time a usage flush that wrote a batch took.",
      buckets: FLUSH_BUCKETS,
      registers,
    });
    sources.usage.onFlushed = (seconds) => flushDuration.observe(seconds);

    const { stats, verification, usage } = sources;
    counterOf(registers, "keyward_storage_reads_total", "Storage statements that read.", () =>
      Number(stats.reads),
    );
    counterOf(registers, "keyward_storage_writes_total", "Storage statements that write.", () =>
      Number(stats.writes),
    );
    counterOf(
      registers,
      "keyward_secret_lookups_total",
      "Statements that looked token secrets up in storage (on PostgreSQL one may answer several).",
      () => Number(stats.secretLookups),
    );
    counterOf(
      registers,
      "keyward_service_key_lookups_total",
      "Service calls whose key the cache could not answer: each read the key from storage.",
      () => Number(stats.serviceKeyLookups),
    );
    counterOf(
      registers,
      "keyward_usage_flushes_total",
      "Usage flushes that wrote a batch.",
      () => usage.flushes,
    );
    counterOf(
      registers,
      "keyward_verify_cache_hits_total",
      "Verifications answered from the in-memory cache.",
      () => verification.cacheHits,
    );
    counterOf(
      registers,
      "keyward_verify_cache_misses_total",
      "Verifications the cache could not answer (well-formed tokens not in it): each read storage unless the secret filter refused it.",
      () => verification.cacheMisses,
    );
    new Counter({
      name: "keyward_verifications_total",
      help: "Token verifications by outcome: ok, or the reason for the refusal.",
      labelNames: ["outcome"],
      registers,
      collect() {
        this.reset();
        for (const outcome of VERIFY_OUTCOMES)
          this.inc({ outcome }, verification.outcomes[outcome]);
      },
    });
    gaugeOf(
      registers,
      "keyward_verify_cache_entries",
      "Verification results held in memory.",
      sources.cacheEntries,
    );
    gaugeOf(
      registers,
      "keyward_usage_unflushed_requests",
      "Accepted requests counted, not yet written.",
      () => usage.unflushedRequests,
    );
    gaugeOf(
      registers,
      "keyward_revocation_streams_open",
      "Revocation event streams open on this process.",
      () => sources.revocationStream.openStreams,
    );
  }

  /**
   * Records one answered request. `route` is the route's pattern (`/api/v1/tokens/:id`),
   * or "unmatched": a raw URL would put ids, and whatever a client typed, into labels.
   */
  observeRequest(method: string, route: string, status: number, seconds: number): void {
    let routes = this.requestSeries.get(method);
    if (routes === undefined) {
      routes = new Map();
      this.requestSeries.set(method, routes);
    }
    let statuses = routes.get(route);
    if (statuses === undefined) {
      statuses = new Map();
      routes.set(route, statuses);
    }
    let series = statuses.get(status);
    if (series === undefined) {
      series = this.requestDuration.seriesFor({ method, route, status: String(status) });
      statuses.set(status, series);
    }
    series.observe(seconds);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition: the process's metrics, then Keyward's. */
  async exposition(): Promise<string> {
    const [own, process] = await Promise.all([this.registry.metrics(), processMetrics().metrics()]);
    return `${process}\n${own}`;
  }
}

function counterOf(registers: Registry[], name: string, help: string, read: () => number) {
  new Counter({
    name,
    help,
    registers,
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

function gaugeOf(registers: Registry[], name: string, help: string, read: () => number) {
  new Gauge({
    name,
    help,
    registers,
    collect() {
      this.set(read());
    },
  });
}
