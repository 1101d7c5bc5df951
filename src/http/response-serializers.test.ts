import { spawnSync } from "node:child_process";
import { SerializerSelector } from "@fastify/fast-json-stringify-compiler";
import { describe, expect, it } from "vitest";
import { PROBLEM_MEDIA_TYPE, problemFor, verifyRoute } from "../contract/index.js";
import { REPO_ROOT } from "../test-support/process.js";
import { sharedProblemSerializers } from "./response-serializers.js";

/** Fastify's own factory, counting the serializers it builds. */
function countingFactory() {
  const built: unknown[] = [];
  const base = SerializerSelector();
  const factory: ReturnType<typeof SerializerSelector> = (externalSchemas, options) => {
    const compile = base(externalSchemas, options);
    return (route) => {
      built.push(route.schema);
      return compile(route);
    };
  };
  return { factory, built };
}

describe("sharedProblemSerializers", () => {
  // Fastify passes the media type of responses declared by content; its type omits it.
  const problem = { contentType: PROBLEM_MEDIA_TYPE };
  const json = { contentType: "application/json" };

  it("builds one serializer for every problem answer, and one for each other response", () => {
    const { factory, built } = countingFactory();
    const compile = sharedProblemSerializers(factory)({}, {});
    const route = { method: "POST", url: "/api/v1/verify" };
    const notFound = compile({
      ...route,
      ...problem,
      httpStatus: "404",
      schema: problemFor(["not_found"]),
    });
    const limited = compile({
      ...route,
      ...problem,
      httpStatus: "429",
      schema: problemFor(["rate_limited"]),
    });
    const other = compile({
      method: "GET",
      url: "/api",
      ...problem,
      httpStatus: "503",
      schema: problemFor(["storage_unavailable"]),
    });
    expect(limited).toBe(notFound);
    expect(other).toBe(notFound);
    const success = compile({
      ...route,
      httpStatus: "200",
      schema: verifyRoute.schema.response[200],
    });
    // An error status declared with a body of another kind keeps a serializer of its own.
    const ownError = compile({
      ...route,
      ...json,
      httpStatus: "409",
      schema: verifyRoute.schema.response[200],
    });
    expect(success).not.toBe(notFound);
    expect(ownError).not.toBe(notFound);
    expect(built).toHaveLength(3);
  });

  it("writes a problem byte for byte as the route's own schema did, and nothing else", () => {
    const route = { method: "GET", url: "/api", httpStatus: "401", ...problem };
    const schema = problemFor(["invalid_token", "authentication_required"]);
    const shared = sharedProblemSerializers()({}, {})({ ...route, schema });
    const own = SerializerSelector()({}, {})({ ...route, schema });
    const body = {
      type: "urn:keyward:problem:invalid_token",
      title: "Invalid token",
      status: 401,
      detail: 'The access token is "invalid" \u2028 <here>.',
      code: "invalid_token",
      token: "kw_must_not_appear",
    };
    expect(shared(body)).toBe(own(body));
    expect(shared(body)).not.toContain("kw_must_not_appear");
  });
});

// V8 gives every `{}` one map, with at most 1,536 transitions to the maps of its first
// property. When an application fills them, a `{}` that then gets a property nothing has
// given one before gets a map of its own, and every site that reads such objects (Node's
// request headers among them) misses its inline cache on each one. `%HaveSameMap` tells:
// two `{}` given the same new property share a map only while transitions are left.
describe("the built application and V8's map of `{}`", () => {
  it("leaves room for new transitions once every route is registered", () => {
    const script = `
      import { startTestServer } from "./src/test-support/harness.ts";
      const sameMap = new Function("a", "b", "return %HaveSameMap(a, b)");
      const server = await startTestServer();
      const key = "keyward_probe_" + process.pid;
      const first = {};
      first[key] = 1;
      const second = {};
      second[key] = 2;
      console.log(JSON.stringify({ sameMap: sameMap(first, second) }));
      await server.close();
    `;
    const result = spawnSync(
      process.execPath,
      ["--allow-natives-syntax", "--import", "tsx", "--input-type=module", "-e", script],
      { cwd: REPO_ROOT, encoding: "utf8", env: { ...process.env, KEYWARD_TEST_STORE: "sqlite" } },
    );
    expect(result.status, result.stderr).toBe(0);
    const line = result.stdout.trim().split("\n").at(-1) ?? "";
    expect(JSON.parse(line)).toEqual({ sameMap: true });
  });
});
