// `npm run generate:client`: writes the TypeScript types of the service API (the routes
// under /api/v1/service/ that keyward-client calls) into the client package, from the
// same TypeBox schemas that validate the server's requests and make its OpenAPI document.
// The schemas are plain JSON Schema, printed here by a small printer of the subset the
// contract uses. test/client-contract.test.ts regenerates the text in memory and fails
// when it differs from the committed file, so the client cannot drift from the server.

import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { RouteContract, TSchema } from "../src/contract/index.js";
import {
  ApiToken,
  HostUser,
  HostUserAnswer,
  IssuedToken,
  PortalSession,
  Problem,
  ServiceVerification,
  serviceRoutes,
  TokenList,
} from "../src/contract/index.js";

export const CLIENT_CONTRACT_FILE = join(
  dirname(fileURLToPath(import.meta.url)),
  "..",
  "packages",
  "keyward-client",
  "src",
  "generated",
  "contract.ts",
);

/** Shapes printed once under their contract name and referred to by it elsewhere. */
const NAMED: readonly [string, TSchema][] = [
  ["ApiToken", ApiToken],
  ["IssuedToken", IssuedToken],
  ["TokenList", TokenList],
  ["HostUser", HostUser],
  ["HostUserAnswer", HostUserAnswer],
  ["ServiceVerification", ServiceVerification],
  ["PortalSession", PortalSession],
  ["Problem", Problem],
];

type Json = Record<string, unknown>;

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function indent(level: number): string {
  return "  ".repeat(level);
}

function comment(schema: Json, level: number): string {
  const description = typeof schema.description === "string" ? schema.description : undefined;
  if (!description) return "";
  const text = description.replaceAll("*/", "*\\/");
  return `${indent(level)}/** ${text} */\n`;
}

function literal(value: unknown): string {
  return JSON.stringify(value);
}

class Printer {
  private readonly names = new Map<unknown, string>();

  constructor(named: readonly [string, TSchema][]) {
    for (const [name, schema] of named) this.names.set(schema, name);
  }

  /** The type of `schema`, by name when it is a named shape (unless `expand`). */
  type(schema: TSchema, level: number, expand = false): string {
    const json = schema as Json;
    const name = this.names.get(schema);
    if (name && !expand) return name;
    if (Array.isArray(json.anyOf) || Array.isArray(json.oneOf)) {
      const members = (json.anyOf ?? json.oneOf) as TSchema[];
      return members.map((m) => this.type(m, level)).join(" | ");
    }
    if ("const" in json) return literal(json.const);
    if (Array.isArray(json.enum)) return json.enum.map(literal).join(" | ");
    const types = Array.isArray(json.type) ? (json.type as string[]) : [json.type as string];
    return types.map((t) => this.single(t, json, level)).join(" | ");
  }

  private single(type: string, json: Json, level: number): string {
    switch (type) {
      case "string":
        return "string";
      case "integer":
      case "number":
        return "number";
      case "boolean":
        return "boolean";
      case "null":
        return "null";
      case "array": {
        const items = this.type(json.items as TSchema, level);
        return /^[A-Za-z]+$/.test(items) ? `${items}[]` : `Array<${items}>`;
      }
      case "object":
        return this.object(json, level);
      default:
        throw new Error(`the client type printer does not know JSON Schema type ${type}`);
    }
  }

  private object(json: Json, level: number): string {
    const properties = (json.properties ?? {}) as Record<string, TSchema>;
    const required = new Set((json.required ?? []) as string[]);
    const keys = Object.keys(properties);
    if (keys.length === 0) return "Record<string, never>";
    const lines = keys.map((key) => {
      const property = properties[key] as TSchema;
      const name = IDENTIFIER.test(key) ? key : literal(key);
      const optional = required.has(key) ? "" : "?";
      return `${comment(property as Json, level + 1)}${indent(level + 1)}${name}${optional}: ${this.type(property, level + 1)};`;
    });
    return `{\n${lines.join("\n")}\n${indent(level)}}`;
  }

  declaration(name: string, schema: TSchema): string {
    const json = schema as Json;
    const body = this.type(schema, 0, true);
    const head = comment(json, 0);
    if (json.type === "object" && !json.anyOf) return `${head}export interface ${name} ${body}\n`;
    return `${head}export type ${name} = ${body};\n`;
  }
}

function pascal(operationId: string): string {
  return operationId.charAt(0).toUpperCase() + operationId.slice(1);
}

/** The generated module's text. */
export function generateClientContract(
  routes: readonly RouteContract[] = serviceRoutes,
  named: readonly [string, TSchema][] = NAMED,
): string {
  const printer = new Printer(named);
  const out: string[] = [
    "// Generated by `npm run generate:client` from the server's contract (src/contract/), the",
    "// schemas that also validate the server's requests and make its OpenAPI document. Do not",
    "// edit: a test regenerates this file and fails when it differs.\n",
  ];
  for (const [name, schema] of named) out.push(printer.declaration(name, schema));

  const table: string[] = [];
  for (const route of routes) {
    if (route.produces) continue; // the event stream is not JSON; the client parses it
    const base = pascal(route.operationId);
    const { params, body, response } = route.schema;
    const parts: string[] = [`/** ${route.method} ${route.url}: ${route.summary}. */`];
    if (params) parts.push(printer.declaration(`${base}Params`, params).trimEnd());
    if (body) parts.push(printer.declaration(`${base}Body`, body).trimEnd());
    const answers = Object.entries(response).map(([status, schema]) =>
      status === "204" ? "undefined" : printer.type(schema, 0),
    );
    const unique = [...new Set(answers)];
    parts.push(`export type ${base}Answer = ${unique.join(" | ")};`);
    out.push(`${parts.join("\n")}\n`);
    const statuses = Object.keys(response).join(", ");
    table.push(
      `  ${route.operationId}: { method: ${literal(route.method)}, path: ${literal(route.url)}, statuses: [${statuses}] },`,
    );
  }
  out.push(
    "/** Every JSON route of the service API: its method, path (`:name` parameters) and success statuses. */",
  );
  out.push(`export const serviceRoutes = {\n${table.join("\n")}\n} as const;\n`);
  return out.join("\n");
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(CLIENT_CONTRACT_FILE, generateClientContract());
  console.log(`wrote ${CLIENT_CONTRACT_FILE}`);
}
