import { defineConfig } from "vitest/config";

// Vitest reads the default export of its config file (biome.json allows it here only).
export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "e2e/**/*.spec.ts", "test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
  },
});
