// What a published Keyward package must not hold: test code, test helpers and benchmark
// tools. dist/ is checked by src/architecture.test.ts, the packed tarball by
// test/package.test.ts; both read the rules here.

const TEST_CODE: { pattern: RegExp; what: string }[] = [
  { pattern: /\.(test|spec)\.[cm]?[jt]sx?(\.map)?$/, what: "a test file" },
  { pattern: /(^|\/)test-support\//, what: "a test helper" },
  { pattern: /(^|\/)store-contract\./, what: "the store contract suite (test code)" },
];

const BENCH_CODE: { pattern: RegExp; what: string }[] = [
  { pattern: /seed-bench/, what: "the benchmark seeder" },
  { pattern: /(^|[/._-])bench(mark)?s?([/._-]|$)/i, what: "benchmark code" },
];

/** Why a source module is test code (not built, not shipped), or undefined. */
export function testCodeReason(path: string): string | undefined {
  return TEST_CODE.find(({ pattern }) => pattern.test(path))?.what;
}

/** Why a file must not be in dist/ or in the package, or undefined when it may. */
export function unshippableReason(path: string): string | undefined {
  return testCodeReason(path) ?? BENCH_CODE.find(({ pattern }) => pattern.test(path))?.what;
}
