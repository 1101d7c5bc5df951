import type { Role } from "../../src/contract/index.js";

// Times: relative for reading at a glance, exact (with the time zone) on hover and focus.

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
export const DAY_MS = 24 * HOUR;

const relativeFormat = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
// dateStyle/timeStyle cannot be combined with timeZoneName, hence the parts.
const exactFormat = new Intl.DateTimeFormat(undefined, {
  year: "numeric",
  month: "short",
  day: "numeric",
  hour: "numeric",
  minute: "2-digit",
  second: "2-digit",
  timeZoneName: "short",
});
const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });
const shortDayFormat = new Intl.DateTimeFormat(undefined, {
  month: "short",
  day: "numeric",
  timeZone: "UTC",
});
const numberFormat = new Intl.NumberFormat();

export function formatRelative(iso: string, now: number): string {
  const diff = Date.parse(iso) - now;
  const abs = Math.abs(diff);
  // Within 45 s either way is "just now": the page's clock ticks every 30 s and the server's
  // may be a little ahead, so a token created a moment ago must not read "in a few seconds".
  if (abs < 45_000) return "just now";
  if (abs < HOUR) return relativeFormat.format(Math.round(diff / MINUTE), "minute");
  if (abs < DAY_MS) return relativeFormat.format(Math.round(diff / HOUR), "hour");
  // Days up to 90, so the 30/60/90-day expiry choices read as chosen ("in 30 days").
  if (abs < 91 * DAY_MS) return relativeFormat.format(Math.round(diff / DAY_MS), "day");
  if (abs < 365 * DAY_MS) return relativeFormat.format(Math.round(diff / (30 * DAY_MS)), "month");
  return relativeFormat.format(Math.round(diff / (365 * DAY_MS)), "year");
}

export function formatExact(iso: string): string {
  return exactFormat.format(new Date(iso));
}

export function formatDate(date: Date): string {
  return dateFormat.format(date);
}

/** A usage bucket's `YYYY-MM-DD` (a UTC day) as "Mar 4". */
export function formatDay(day: string): string {
  return shortDayFormat.format(new Date(`${day}T00:00:00Z`));
}

export function formatCount(n: number): string {
  return numberFormat.format(n);
}

export function plural(n: number, one: string, many: string): string {
  return `${formatCount(n)} ${n === 1 ? one : many}`;
}

export function daysBetween(fromMs: number, toMs: number): number {
  return Math.floor((toMs - fromMs) / DAY_MS);
}

/** `YYYY-MM-DD` of a local calendar day, for <input type="date">. */
export function localDateInputValue(date: Date): string {
  const y = date.getFullYear();
  const m = String(date.getMonth() + 1).padStart(2, "0");
  const d = String(date.getDate()).padStart(2, "0");
  return `${y}-${m}-${d}`;
}

export const roleLabels: Record<Role, string> = {
  owner: "Owner",
  admin: "Admin",
  member: "Member",
};

/** What to tell a person when the server answered an error without saying why (no status codes). */
export function describeHttpFailure(status: number): string {
  return status >= 500
    ? "Keyward could not complete that just now. Try again in a moment."
    : "Keyward refused that request. Reload the page and try again.";
}
