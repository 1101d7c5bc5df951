// Building blocks of the wire contract. Every request and response shape is declared once,
// with TypeBox, in this folder; Fastify validates and serialises with these schemas, the
// handlers and the web UI take their types from them, and the OpenAPI document is made
// from them. Nothing here does I/O: it is data describing JSON.
import { type Static, type TSchema, type TUnsafe, Type } from "typebox";
import { type ErrorCode, errorRegistry } from "../core/errors.js";
import type { IdKind } from "../core/ids.js";
import { ROLES } from "../core/model.js";

export type { Static, TSchema };

/** A string or null, as one JSON type list (cheaper to serialise than an anyOf). */
export function NullableString(options: Record<string, unknown> = {}): TUnsafe<string | null> {
  return Type.Unsafe<string | null>({ type: ["string", "null"], ...options });
}

/** A string that is one of `values`. */
export function StringEnum<const T extends readonly string[]>(
  values: T,
  options: Record<string, unknown> = {},
): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ type: "string", enum: [...values], ...options });
}

/** An RFC 3339 timestamp in UTC, as the server writes them (`2026-12-02T09:30:00.000Z`). */
export const Timestamp = Type.String({ format: "date-time" });
export const NullableTimestamp = NullableString({ format: "date-time" });

/** A public identifier of one kind: `usr_`, `app_` or `tok_` and 20 base62 characters. */
export function Id(kind: IdKind) {
  return Type.String({
    pattern: `^${kind}_[0-9A-Za-z]{20}$`,
    examples: [`${kind}_4fZq0x7LkPw2Yb9sTmRv`],
  });
}

/**
 * Who made a service key or a webhook, and whether they are still a member of the
 * application. Someone who is no longer a member may still hold a key they saw when it was
 * made, or run the webhook's receiver: replace or remove what they made.
 */
export const CreatedBy = Type.Union(
  [
    Type.Object({
      id: Id("usr"),
      email: Type.String(),
      member: Type.Boolean({ description: "Whether they are still a member of the application." }),
      role: Type.Union([StringEnum(ROLES), Type.Null()], {
        description:
          "Their role in the application now (an admin may have been made a member since); null once they are no longer a member.",
      }),
    }),
    Type.Null(),
  ],
  {
    description:
      "Who made it, and whether and as what they are still a member of the application; null when not recorded.",
  },
);

/** Query values arrive as text; bodies are never coerced, so numbers in queries are digits. */
export function DigitString(maxDigits: number) {
  return Type.String({ pattern: `^[0-9]{1,${maxDigits}}$` });
}

/** A body that must be empty: `{}`. */
export const EmptyObject = Type.Object({}, { additionalProperties: false, maxProperties: 0 });

const PROBLEM_TYPE_BASE = "urn:keyward:problem:";

/** The media type of every problem answer (RFC 9457). */
export const PROBLEM_MEDIA_TYPE = "application/problem+json";

/** The RFC 9457 problem every refusal and fault is answered with. */
export const Problem = Type.Object(
  {
    type: Type.String({ description: `\`${PROBLEM_TYPE_BASE}\` followed by the code.` }),
    title: Type.String({ description: "The code's short, fixed summary." }),
    status: Type.Integer({ description: "The HTTP status, repeated." }),
    detail: Type.String({ description: "What went wrong with this request, for people." }),
    code: Type.String({ description: "Stable snake_case code that clients branch on." }),
  },
  { description: "An RFC 9457 problem (media type application/problem+json)." },
);
export type Problem = Static<typeof Problem>;

export function problemTypeOf(code: ErrorCode): string {
  return PROBLEM_TYPE_BASE + code;
}

/** The problem schema narrowed to the codes a route may answer with one status. */
export function problemFor(codes: readonly ErrorCode[]): TSchema {
  const status = errorRegistry[codes[0] as ErrorCode].status;
  return Type.Object(
    {
      type: Type.String(),
      title: Type.String(),
      status: Type.Integer({ enum: [status] }),
      detail: Type.String(),
      code: StringEnum(codes),
    },
    {
      description: codes.map((code) => `\`${code}\`: ${errorRegistry[code].title}.`).join(" "),
    },
  );
}
