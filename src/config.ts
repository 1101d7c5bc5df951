import { isIP } from "node:net";
import { TOKEN_PREFIX_PATTERN } from "./core/token.js";

export type DatabaseConfig = { kind: "sqlite"; path: string } | { kind: "postgres"; url: string };

export interface Config {
  host: string;
  port: number;
  database: DatabaseConfig;
  tokenPrefix: string;
  logLevel: string;
  /** `auto`: pretty lines when stdout is a terminal, JSON lines otherwise. */
  logFormat: "auto" | "pretty" | "json";
  maxActiveTokensPerUser: number;
  usageFlushIntervalMs: number;
  sessionTtlMs: number;
  /** A session unused this long ends. */
  sessionIdleMs: number;
  verifyCacheSize: number;
  verifyCacheMaxAgeMs: number;
  verifyRateLimitPerMinute: number;
  leakRateLimitPerMinute: number;
  abuse: {
    signinFailuresPerAccountPerHour: number;
    signinFailuresPerAccountAndAddressPerHour: number;
    signupsPerAddressPerHour: number;
    signinFailuresPerAddressPerHour: number;
    bearerFailuresPerAddressPerMinute: number;
    tokenCreationsPerUserPerHour: number;
  };
  publicOrigin: string | undefined;
  requireHttps: boolean;
  tls: { certFile: string; keyFile: string } | undefined;
  /**
   * Which proxies' `X-Forwarded-*` headers count: none, the nearest N hops, or those at
   * these addresses/CIDRs. The client address is the rightmost `X-Forwarded-For` entry not
   * written by a trusted proxy; what a client writes at the left never chooses it.
   */
  trustProxy: TrustProxy;
  bodyLimitBytes: number;
  /**
   * PostgreSQL only: connections per process, the longest a statement may run, a direct
   * connection for LISTEN and migrations when `DATABASE_URL` goes through a transaction-mode
   * pooler, and whether the hot lookup may use a named prepared statement.
   */
  postgres: {
    poolSize: number;
    queryTimeoutMs: number;
    listenUrl: string | undefined;
    preparedStatements: boolean;
  };
  /** When set, `GET /metrics` answers this bearer token from anywhere; else loopback only. */
  metricsToken: string | undefined;
  /** Deliver webhooks to loopback, private and link-local addresses (tests, closed networks). */
  webhookAllowPrivate: boolean;
  /** How often each process looks for tokens the policies revoke or remind of. */
  policySweepIntervalMs: number;
  /** GitHub's secret-scanning keys document: inline JSON, or a file holding it. */
  githubSecretScanningKeys: { json: string } | { file: string } | undefined;
  /**
   * Outgoing email (address confirmation, password reset, token notices): the SMTP server
   * as a `smtp://` or `smtps://` URL and the From address. Undefined: Keyward sends no
   * email, and nothing waits for one.
   */
  mail: MailConfig | undefined;
}

export interface MailConfig {
  smtpUrl: string;
  from: string;
}

/** Every environment variable Keyward reads, with its default. The README's table mirrors this. */
export const ENVIRONMENT_VARIABLES = {
  PORT: "3000",
  HOST: "127.0.0.1",
  DATABASE_URL: "sqlite:./data/keyward.db",
  TOKEN_PREFIX: "kw",
  LOG_LEVEL: "info",
  LOG_FORMAT: "auto",
  MAX_ACTIVE_TOKENS_PER_USER: "100",
  USAGE_FLUSH_INTERVAL_MS: "1000",
  SESSION_TTL_HOURS: "168",
  SESSION_IDLE_HOURS: "24",
  VERIFY_CACHE_SIZE: "100000",
  VERIFY_CACHE_MAX_AGE_MS: "5000",
  VERIFY_RATE_LIMIT_PER_MINUTE: "6000",
  LEAK_RATE_LIMIT_PER_MINUTE: "30",
  SIGNIN_FAILURES_PER_ACCOUNT_PER_HOUR: "100",
  SIGNIN_FAILURES_PER_ACCOUNT_AND_ADDRESS_PER_HOUR: "10",
  SIGNUP_PER_ADDRESS_PER_HOUR: "20",
  SIGNIN_FAILURES_PER_ADDRESS_PER_HOUR: "1000",
  BEARER_FAILURES_PER_ADDRESS_PER_MINUTE: "600",
  TOKEN_CREATIONS_PER_USER_PER_HOUR: "200",
  PUBLIC_ORIGIN: "",
  REQUIRE_HTTPS: "",
  TLS_CERT_FILE: "",
  TLS_KEY_FILE: "",
  TRUST_PROXY: "false",
  BODY_LIMIT_BYTES: "65536",
  DATABASE_POOL_SIZE: "10",
  DATABASE_QUERY_TIMEOUT_MS: "5000",
  DATABASE_LISTEN_URL: "",
  DATABASE_PREPARED_STATEMENTS: "true",
  METRICS_TOKEN: "",
  WEBHOOK_ALLOW_PRIVATE: "false",
  POLICY_SWEEP_INTERVAL_MS: "300000",
  GITHUB_SECRET_SCANNING_KEYS: "",
  GITHUB_SECRET_SCANNING_KEYS_FILE: "",
  SMTP_URL: "",
  MAIL_FROM: "",
} as const;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** Reads and checks the whole configuration at once, reporting every problem in one message. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const problems: string[] = [];
  const read = (name: keyof typeof ENVIRONMENT_VARIABLES): string => {
    const value = env[name];
    return value === undefined || value === "" ? ENVIRONMENT_VARIABLES[name] : value;
  };
  const integer = (name: keyof typeof ENVIRONMENT_VARIABLES, min: number, max: number): number => {
    const text = read(name);
    const value = Number(text);
    if (!/^\d+$/.test(text) || value < min || value > max) {
      problems.push(`${name} must be an integer from ${min} to ${max} (got "${text}")`);
      return Number(ENVIRONMENT_VARIABLES[name]);
    }
    return value;
  };

  const port = integer("PORT", 0, 65535);
  const tokenPrefix = read("TOKEN_PREFIX");
  if (!TOKEN_PREFIX_PATTERN.test(tokenPrefix)) {
    problems.push(`TOKEN_PREFIX must be 2-8 lowercase letters or digits (got "${tokenPrefix}")`);
  }
  const logLevel = read("LOG_LEVEL");
  if (!["fatal", "error", "warn", "info", "debug", "trace", "silent"].includes(logLevel)) {
    problems.push(
      `LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent (got "${logLevel}")`,
    );
  }
  const logFormat = read("LOG_FORMAT");
  if (logFormat !== "auto" && logFormat !== "pretty" && logFormat !== "json") {
    problems.push(`LOG_FORMAT must be auto, pretty or json (got "${logFormat}")`);
  }
  const database = parseDatabaseUrl(read("DATABASE_URL"), problems);
  const publicOrigin = env.PUBLIC_ORIGIN ? env.PUBLIC_ORIGIN.replace(/\/+$/, "") : undefined;
  if (publicOrigin !== undefined && !/^https?:\/\/[^/]+$/.test(publicOrigin)) {
    problems.push(`PUBLIC_ORIGIN must look like https://keys.example.com (got "${publicOrigin}")`);
  }
  const trustProxy = parseTrustProxy(read("TRUST_PROXY"), problems);

  const requireHttpsText = env.REQUIRE_HTTPS || (env.NODE_ENV === "production" ? "true" : "false");
  if (!["true", "false"].includes(requireHttpsText)) {
    problems.push(`REQUIRE_HTTPS must be true or false (got "${requireHttpsText}")`);
  }
  const certFile = env.TLS_CERT_FILE || undefined;
  const keyFile = env.TLS_KEY_FILE || undefined;
  if ((certFile === undefined) !== (keyFile === undefined)) {
    problems.push(
      "TLS_CERT_FILE and TLS_KEY_FILE go together: set both to serve HTTPS, or neither",
    );
  }

  const listenUrl = env.DATABASE_LISTEN_URL || undefined;
  if (listenUrl !== undefined) {
    if (!/^postgres(ql)?:\/\//.test(listenUrl)) {
      problems.push(
        `DATABASE_LISTEN_URL must start with postgres:// (got "${listenUrl.replace(/\/\/[^@]*@/, "//…@")}")`,
      );
    } else if (database.kind !== "postgres") {
      problems.push("DATABASE_LISTEN_URL is for PostgreSQL only: DATABASE_URL is not postgres://");
    } else {
      const sslmode = sslmodeProblem("DATABASE_LISTEN_URL", listenUrl);
      if (sslmode !== undefined) problems.push(sslmode);
    }
  }
  const preparedText = read("DATABASE_PREPARED_STATEMENTS");
  if (!["true", "false"].includes(preparedText)) {
    problems.push(`DATABASE_PREPARED_STATEMENTS must be true or false (got "${preparedText}")`);
  }

  const metricsToken = env.METRICS_TOKEN || undefined;
  // A scraper's secret sent on every scrape: long enough that guessing it is hopeless.
  if (metricsToken !== undefined && !/^[A-Za-z0-9._~+/-]{32,256}$/.test(metricsToken)) {
    problems.push("METRICS_TOKEN must be 32 to 256 characters of A-Z, a-z, 0-9 and - . _ ~ + /");
  }

  const webhookAllowPrivate = read("WEBHOOK_ALLOW_PRIVATE");
  if (!["true", "false"].includes(webhookAllowPrivate)) {
    problems.push(`WEBHOOK_ALLOW_PRIVATE must be true or false (got "${webhookAllowPrivate}")`);
  }
  const githubJson = env.GITHUB_SECRET_SCANNING_KEYS || undefined;
  const githubFile = env.GITHUB_SECRET_SCANNING_KEYS_FILE || undefined;
  if (githubJson !== undefined && githubFile !== undefined) {
    problems.push("Set GITHUB_SECRET_SCANNING_KEYS or GITHUB_SECRET_SCANNING_KEYS_FILE, not both");
  }

  const mail = parseMail(env.SMTP_URL || undefined, env.MAIL_FROM || undefined, problems);

  const config: Config = {
    host: read("HOST"),
    port,
    database,
    tokenPrefix,
    logLevel,
    logFormat: logFormat === "pretty" || logFormat === "json" ? logFormat : "auto",
    maxActiveTokensPerUser: integer("MAX_ACTIVE_TOKENS_PER_USER", 1, 100_000),
    // lastUsedAt may lag real use by at most 5 s (the contract), so a flush runs at least that often.
    usageFlushIntervalMs: integer("USAGE_FLUSH_INTERVAL_MS", 50, 5000),
    sessionTtlMs: integer("SESSION_TTL_HOURS", 1, 24 * 365) * 3_600_000,
    sessionIdleMs: integer("SESSION_IDLE_HOURS", 1, 24 * 365) * 3_600_000,
    verifyCacheSize: integer("VERIFY_CACHE_SIZE", 0, 10_000_000),
    verifyCacheMaxAgeMs: integer("VERIFY_CACHE_MAX_AGE_MS", 0, 5000),
    verifyRateLimitPerMinute: integer("VERIFY_RATE_LIMIT_PER_MINUTE", 1, 100_000_000),
    leakRateLimitPerMinute: integer("LEAK_RATE_LIMIT_PER_MINUTE", 1, 100_000),
    abuse: {
      // ASVS 5.0: at most 100 failed sign-ins per account per hour.
      signinFailuresPerAccountPerHour: integer("SIGNIN_FAILURES_PER_ACCOUNT_PER_HOUR", 2, 100),
      signinFailuresPerAccountAndAddressPerHour: integer(
        "SIGNIN_FAILURES_PER_ACCOUNT_AND_ADDRESS_PER_HOUR",
        1,
        99,
      ),
      signupsPerAddressPerHour: integer("SIGNUP_PER_ADDRESS_PER_HOUR", 1, 1_000_000),
      signinFailuresPerAddressPerHour: integer(
        "SIGNIN_FAILURES_PER_ADDRESS_PER_HOUR",
        1,
        1_000_000,
      ),
      bearerFailuresPerAddressPerMinute: integer(
        "BEARER_FAILURES_PER_ADDRESS_PER_MINUTE",
        1,
        100_000_000,
      ),
      tokenCreationsPerUserPerHour: integer("TOKEN_CREATIONS_PER_USER_PER_HOUR", 1, 1_000_000),
    },
    publicOrigin,
    requireHttps: requireHttpsText === "true",
    tls: certFile && keyFile ? { certFile, keyFile } : undefined,
    trustProxy,
    bodyLimitBytes: integer("BODY_LIMIT_BYTES", 1024, 10_485_760),
    postgres: {
      poolSize: integer("DATABASE_POOL_SIZE", 1, 1000),
      queryTimeoutMs: integer("DATABASE_QUERY_TIMEOUT_MS", 100, 600_000),
      listenUrl,
      preparedStatements: preparedText !== "false",
    },
    metricsToken,
    webhookAllowPrivate: webhookAllowPrivate === "true",
    // The contract revokes an unused token within an hour of crossing the line.
    policySweepIntervalMs: integer("POLICY_SWEEP_INTERVAL_MS", 1000, 3_600_000),
    githubSecretScanningKeys:
      githubJson !== undefined
        ? { json: githubJson }
        : githubFile !== undefined
          ? { file: githubFile }
          : undefined,
    mail,
  };
  // One address alone must never reach the account's limit (which locks the account for
  // addresses it was never used from): its own limit has to stop it first.
  if (
    config.abuse.signinFailuresPerAccountAndAddressPerHour >=
    config.abuse.signinFailuresPerAccountPerHour
  ) {
    problems.push(
      "SIGNIN_FAILURES_PER_ACCOUNT_AND_ADDRESS_PER_HOUR must be below SIGNIN_FAILURES_PER_ACCOUNT_PER_HOUR",
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** `a@b.c` or `Name <a@b.c>`: one address, no line breaks (they would add headers). */
const MAIL_FROM_PATTERN = /^(?:[^<>\r\n]{0,100}<[^\s<>@]+@[^\s<>@]+>|[^\s<>@]+@[^\s<>@]+)$/;

/** The SMTP URL without its user part, which may hold the password. */
function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//…@");
}

function parseMail(
  smtpUrl: string | undefined,
  from: string | undefined,
  problems: string[],
): MailConfig | undefined {
  if (smtpUrl === undefined) {
    if (from !== undefined)
      problems.push("MAIL_FROM is set but SMTP_URL is not: set both, or neither");
    return undefined;
  }
  let valid = false;
  try {
    const url = new URL(smtpUrl);
    valid = (url.protocol === "smtp:" || url.protocol === "smtps:") && url.hostname !== "";
  } catch {
    valid = false;
  }
  if (!valid) {
    problems.push(
      `SMTP_URL must look like smtp://user:password@mail.example.com:587 or smtps://…:465 (got "${redactUrl(smtpUrl)}")`,
    );
  }
  if (from === undefined) {
    problems.push(
      'MAIL_FROM is required when SMTP_URL is set: the sender address, like "Keyward <keys@example.com>"',
    );
  } else if (!MAIL_FROM_PATTERN.test(from.trim())) {
    problems.push(`MAIL_FROM must be an address like "Keyward <keys@example.com>" (got "${from}")`);
  }
  return valid && from !== undefined ? { smtpUrl, from: from.trim() } : undefined;
}

/**
 * The `sslmode` values the PostgreSQL driver (pg) honours. libpq's `allow` is not among
 * them: pg would take it as verify-full, the opposite of what it asks.
 */
const SSL_MODES = ["disable", "prefer", "require", "verify-ca", "verify-full", "no-verify"];

/**
 * A problem with a PostgreSQL URL's `sslmode`, or undefined. Read from the query string by
 * hand (the last one counts, as for the driver): the driver takes URLs the URL standard
 * refuses (several hosts, a socket folder with a user).
 */
function sslmodeProblem(variable: string, url: string): string | undefined {
  const matches = [...url.matchAll(/[?&]sslmode=([^&#]*)/g)];
  const raw = matches.at(-1)?.[1];
  if (raw === undefined) return undefined;
  let sslmode = raw;
  try {
    sslmode = decodeURIComponent(raw);
  } catch {
    // Not %-encoding the driver could read either: refused below as written.
  }
  if (SSL_MODES.includes(sslmode)) return undefined;
  return `${variable}'s sslmode must be one of ${SSL_MODES.join(", ")} (got "${sslmode}")`;
}

function parseDatabaseUrl(url: string, problems: string[]): DatabaseConfig {
  if (url.startsWith("sqlite:")) {
    const path = url.slice("sqlite:".length).replace(/^\/\/(?=\/)/, "");
    if (path.length === 0) problems.push("DATABASE_URL sqlite:<path> needs a path");
    return { kind: "sqlite", path };
  }
  if (url.startsWith("postgres://") || url.startsWith("postgresql://")) {
    const sslmode = sslmodeProblem("DATABASE_URL", url);
    if (sslmode !== undefined) problems.push(sslmode);
    return { kind: "postgres", url };
  }
  problems.push(
    `DATABASE_URL must start with sqlite: or postgres:// (got "${url.replace(/\/\/[^@]*@/, "//…@")}")`,
  );
  return { kind: "sqlite", path: "./data/keyward.db" };
}

export type TrustProxy = false | number | string[];

const IPV4_CIDR = /^(\d{1,3})(\.\d{1,3}){3}(\/\d{1,2})?$/;
const IPV6_CIDR = /^[0-9a-fA-F:.]+(\/\d{1,3})?$/;

/**
 * `false`, a number of hops, or a comma-separated list of addresses and CIDRs. `true` is
 * read as one hop (the proxy in front of Keyward): trusting every hop would let a client
 * choose its own address by writing `X-Forwarded-For`.
 */
export function parseTrustProxy(text: string, problems: string[]): TrustProxy {
  const value = text.trim();
  if (value === "false" || value === "") return false;
  if (value === "true") return 1;
  if (/^\d{1,2}$/.test(value)) {
    const hops = Number(value);
    if (hops === 0) return false;
    return hops;
  }
  const entries = value.split(",").map((entry) => entry.trim());
  const bad = entries.filter(
    (entry) =>
      !(isIP(entry.split("/")[0] ?? "") && (IPV4_CIDR.test(entry) || IPV6_CIDR.test(entry))),
  );
  if (bad.length > 0 || entries.length === 0) {
    problems.push(
      `TRUST_PROXY must be false, a number of proxy hops, or a comma-separated list of addresses or CIDRs (got "${text}")`,
    );
    return false;
  }
  return entries;
}
