import { describe, expect, it } from "vitest";
import { ConfigError, ENVIRONMENT_VARIABLES, loadConfig } from "./config.js";

describe("loadConfig", () => {
  it("needs no configuration at all", () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      host: "127.0.0.1",
      port: 3000,
      database: { kind: "sqlite", path: "./data/keyward.db" },
      tokenPrefix: "kw",
      maxActiveTokensPerUser: 100,
      usageFlushIntervalMs: 1000,
    });
  });

  it("reads sqlite and postgres URLs", () => {
    expect(loadConfig({ DATABASE_URL: "sqlite:/var/lib/keyward/k.db" }).database).toEqual({
      kind: "sqlite",
      path: "/var/lib/keyward/k.db",
    });
    expect(loadConfig({ DATABASE_URL: "postgres://u@h/db" }).database).toEqual({
      kind: "postgres",
      url: "postgres://u@h/db",
    });
  });

  it("refuses an sslmode the PostgreSQL driver does not know", () => {
    expect(loadConfig({ DATABASE_URL: "postgres://u@h/db?sslmode=verify-full" }).database).toEqual({
      kind: "postgres",
      url: "postgres://u@h/db?sslmode=verify-full",
    });
    expect(() => loadConfig({ DATABASE_URL: "postgres://u@h/db?sslmode=bogus" })).toThrow(
      /sslmode must be one of disable, prefer, require, verify-ca, verify-full, no-verify \(got "bogus"\)/,
    );
    // libpq's `allow`, which the driver would take as verify-full; the last sslmode counts.
    for (const query of ["sslmode=allow", "sslmode=disable&sslmode=bogus"])
      expect(() => loadConfig({ DATABASE_URL: `postgres://u@h/db?${query}` })).toThrow(/sslmode/);
    expect(() =>
      loadConfig({
        DATABASE_URL: "postgres://u@h/db",
        DATABASE_LISTEN_URL: "postgres://u@h/db?sslmode=bogus",
      }),
    ).toThrow(/DATABASE_LISTEN_URL's sslmode must be one of/);
    // URLs the driver takes and the URL standard does not: left to the driver.
    for (const url of ["postgres://u@/db?host=/var/run/postgresql", "postgres://u@h1,h2:5433/db"])
      expect(loadConfig({ DATABASE_URL: url }).database).toEqual({ kind: "postgres", url });
  });

  it("reads the PostgreSQL pool settings and the metrics token", () => {
    expect(loadConfig({}).postgres).toEqual({
      poolSize: 10,
      queryTimeoutMs: 5000,
      listenUrl: undefined,
      preparedStatements: true,
    });
    expect(loadConfig({}).metricsToken).toBeUndefined();
    const config = loadConfig({
      DATABASE_POOL_SIZE: "40",
      DATABASE_QUERY_TIMEOUT_MS: "20000",
      METRICS_TOKEN: "a".repeat(32),
    });
    expect(config.postgres).toEqual({
      poolSize: 40,
      queryTimeoutMs: 20000,
      listenUrl: undefined,
      preparedStatements: true,
    });
    expect(config.metricsToken).toBe("a".repeat(32));
    expect(() => loadConfig({ METRICS_TOKEN: "short" })).toThrow(/METRICS_TOKEN/);
    expect(() => loadConfig({ METRICS_TOKEN: `${"a".repeat(32)} b` })).toThrow(/METRICS_TOKEN/);
    expect(() => loadConfig({ DATABASE_POOL_SIZE: "0" })).toThrow(/DATABASE_POOL_SIZE/);
  });

  it("reads the direct LISTEN URL and the prepared-statement switch for a transaction pooler", () => {
    const pooled = loadConfig({
      DATABASE_URL: "postgres://k@pgbouncer:6432/keyward",
      DATABASE_LISTEN_URL: "postgres://k@db:5432/keyward",
      DATABASE_PREPARED_STATEMENTS: "false",
    });
    expect(pooled.postgres.listenUrl).toBe("postgres://k@db:5432/keyward");
    expect(pooled.postgres.preparedStatements).toBe(false);
    expect(() =>
      loadConfig({ DATABASE_URL: "postgres://k@h/db", DATABASE_LISTEN_URL: "mysql://x@y/z" }),
    ).toThrow(/DATABASE_LISTEN_URL must start with postgres/);
    // LISTEN on PostgreSQL while the data is in SQLite would listen to nobody.
    expect(() => loadConfig({ DATABASE_LISTEN_URL: "postgres://k@db/keyward" })).toThrow(
      /DATABASE_LISTEN_URL is for PostgreSQL only/,
    );
    expect(() => loadConfig({ DATABASE_PREPARED_STATEMENTS: "no" })).toThrow(
      /DATABASE_PREPARED_STATEMENTS must be true or false/,
    );
  });

  it("refuses a per-address sign-in limit that one address could reach the account's with", () => {
    expect(() =>
      loadConfig({
        SIGNIN_FAILURES_PER_ACCOUNT_PER_HOUR: "10",
        SIGNIN_FAILURES_PER_ACCOUNT_AND_ADDRESS_PER_HOUR: "10",
      }),
    ).toThrow(/must be below SIGNIN_FAILURES_PER_ACCOUNT_PER_HOUR/);
    expect(loadConfig({}).abuse).toMatchObject({
      signinFailuresPerAccountPerHour: 100,
      signinFailuresPerAccountAndAddressPerHour: 10,
      signupsPerAddressPerHour: 20,
    });
  });

  it("reports every problem in one error", () => {
    try {
      loadConfig({
        PORT: "-1",
        TOKEN_PREFIX: "X",
        USAGE_FLUSH_INTERVAL_MS: "60000",
        DATABASE_URL: "mysql://user:secret@x/db",
      });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const problems = (error as ConfigError).problems;
      expect(problems).toHaveLength(4);
      // lastUsedAt may lag by at most 5 s: a longer flush interval is refused.
      expect(problems.join("\n")).toContain("USAGE_FLUSH_INTERVAL_MS");
      expect(problems.join("\n")).not.toContain("secret");
    }
  });

  it("reads the SMTP server and sender; without SMTP_URL no email is sent", () => {
    expect(loadConfig({}).mail).toBeUndefined();
    expect(
      loadConfig({
        SMTP_URL: "smtps://keys:pw@mail.example.com:465",
        MAIL_FROM: "Keyward <keys@example.com>",
      }).mail,
    ).toEqual({
      smtpUrl: "smtps://keys:pw@mail.example.com:465",
      from: "Keyward <keys@example.com>",
    });
    expect(
      loadConfig({ SMTP_URL: "smtp://127.0.0.1:2525", MAIL_FROM: "keys@example.com" }).mail,
    ).toEqual({ smtpUrl: "smtp://127.0.0.1:2525", from: "keys@example.com" });
  });

  it("refuses SMTP_URL without MAIL_FROM, another scheme, or a sender with a line break, never printing the SMTP password", () => {
    const problemsOf = (env: Record<string, string>) => {
      try {
        loadConfig(env);
      } catch (error) {
        return (error as ConfigError).problems.join("\n");
      }
      return "";
    };
    expect(problemsOf({ SMTP_URL: "smtp://mail.example.com" })).toContain("MAIL_FROM is required");
    const wrongScheme = problemsOf({
      SMTP_URL: "http://keys:hunter2@mail.example.com",
      MAIL_FROM: "keys@example.com",
    });
    expect(wrongScheme).toContain("SMTP_URL must look like");
    expect(wrongScheme).not.toContain("hunter2");
    expect(
      problemsOf({ SMTP_URL: "smtp://mail.example.com", MAIL_FROM: "a@example.com\r\nBcc: x@y.z" }),
    ).toContain("MAIL_FROM must be an address");
    expect(problemsOf({ MAIL_FROM: "keys@example.com" })).toContain("SMTP_URL is not");
  });

  it("documents every variable in the README", async () => {
    const { readFileSync } = await import("node:fs");
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    for (const name of Object.keys(ENVIRONMENT_VARIABLES))
      expect(readme, name).toContain(`\`${name}\``);
  });
});
