import { useEffect, useId, useMemo, useState } from "react";
import { formatCount } from "../format";
import "./list-controls.css";

/** Rows a long list shows at once: enough to scan, few enough to keep the page (and its tab stops) short. */
export const LIST_PAGE_SIZE = 20;

/** `value`, once it has stopped changing for `delayMs` (a search box typed into). */
export function useDebounced<T>(value: T, delayMs: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = window.setTimeout(() => setSettled(value), delayMs);
    return () => window.clearTimeout(timer);
  }, [value, delayMs]);
  return settled;
}

/** Text folded for a case-insensitive "contains" search. */
export function searchKey(text: string): string {
  return text.toLocaleLowerCase().normalize("NFKC");
}

/**
 * One page of `rows`, and the controls' state. The page goes back to the first whenever
 * `resetKey` changes (a new search or sort), and never points past the end when rows go.
 */
export function usePage<T>(rows: readonly T[], resetKey: string, pageSize = LIST_PAGE_SIZE) {
  const [pageIndex, setPageIndex] = useState(0);
  // biome-ignore lint/correctness/useExhaustiveDependencies: resetKey is a trigger, not an input.
  useEffect(() => setPageIndex(0), [resetKey]);
  const pageCount = Math.max(1, Math.ceil(rows.length / pageSize));
  const current = Math.min(pageIndex, pageCount - 1);
  const shown = useMemo(
    () => rows.slice(current * pageSize, (current + 1) * pageSize),
    [rows, current, pageSize],
  );
  return {
    shown,
    pageIndex: current,
    pageCount,
    first: rows.length === 0 ? 0 : current * pageSize + 1,
    last: current * pageSize + shown.length,
    total: rows.length,
    setPageIndex,
  };
}

/** A labelled search field; the label is visible to screen readers and as the placeholder. */
export function SearchBox({
  label,
  value,
  onChange,
}: {
  label: string;
  value: string;
  onChange: (value: string) => void;
}) {
  const id = useId();
  return (
    <div className="list-search">
      <label htmlFor={id} className="sr-only">
        {label}
      </label>
      <input
        id={id}
        type="search"
        value={value}
        placeholder={label}
        maxLength={100}
        autoComplete="off"
        spellCheck={false}
        onChange={(e) => onChange(e.target.value)}
      />
    </div>
  );
}

/** "21–40 of 100" with Previous and Next; nothing when everything fits on one page. */
export function Pager({
  page,
  noun,
}: {
  page: ReturnType<typeof usePage<unknown>>;
  /** What the rows are, plural ("tokens"), for the navigation's accessible name. */
  noun: string;
}) {
  if (page.pageCount <= 1) return null;
  return (
    <nav className="pager" aria-label={`Pages of ${noun}`}>
      <span className="muted" aria-live="polite">
        {formatCount(page.first)}–{formatCount(page.last)} of {formatCount(page.total)}
      </span>
      <span className="pager-buttons">
        <button
          type="button"
          className="button button-small"
          disabled={page.pageIndex === 0}
          onClick={() => page.setPageIndex(page.pageIndex - 1)}
        >
          Previous
        </button>
        <button
          type="button"
          className="button button-small"
          disabled={page.pageIndex >= page.pageCount - 1}
          onClick={() => page.setPageIndex(page.pageIndex + 1)}
        >
          Next
        </button>
      </span>
    </nav>
  );
}
