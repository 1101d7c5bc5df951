import { type ReactNode, useCallback, useEffect, useId, useMemo, useRef, useState } from "react";
import { type AuditAction, type AuditEvent, type AuditPage, api, describeError } from "../api";
import {
  applicationActionLabels,
  describeEvent,
  knownEmails,
  type SentencePart,
  sentenceText,
  TOKEN_ACTIONS,
} from "../audit";
import { formatCount, plural } from "../format";
import { SearchBox, useDebounced } from "./list-controls";
import { LongText } from "./long-text";
import { RelativeTime } from "./relative-time";
import { useNow } from "./use-now";
import "./activity.css";

/** How often a trail on screen looks for new events while the tab is visible. */
const REFRESH_INTERVAL_MS = 30_000;
const PAGE_SIZE = 25;

type LoadPage = (before: string | undefined) => Promise<AuditPage>;

/**
 * An audit trail, newest first, a page at a time. `resetKey` changes when the query changes
 * (a filter): the list starts over. `reloadSignal` changes when something on the page
 * probably added events: the newest page is fetched again and new events go on top, keeping
 * the older pages already loaded.
 */
function useAuditFeed(loadPage: LoadPage, resetKey: string, reloadSignal: number) {
  const [events, setEvents] = useState<AuditEvent[] | undefined>();
  const [nextBefore, setNextBefore] = useState<string | null>(null);
  /** How many events match the query, over all pages (from the latest answer). */
  const [total, setTotal] = useState<number | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [loadingOlder, setLoadingOlder] = useState(false);
  // Answers to an older query (a previous filter) are dropped.
  const generation = useRef(0);
  const eventsRef = useRef<AuditEvent[] | undefined>(undefined);
  eventsRef.current = events;
  const loadPageRef = useRef(loadPage);
  loadPageRef.current = loadPage;

  const refresh = useCallback(async () => {
    const ticket = generation.current;
    try {
      const page = await loadPageRef.current(undefined);
      if (ticket !== generation.current) return;
      setError(undefined);
      setTotal(page.total);
      const current = eventsRef.current;
      const known = new Set(current?.map((e) => e.id));
      const overlap = page.events.findIndex((e) => known.has(e.id));
      if (!current || overlap < 0) {
        // First load, or more new events than a page: start from this page.
        setEvents(page.events);
        setNextBefore(page.nextBefore);
      } else if (overlap > 0) {
        setEvents([...page.events.slice(0, overlap), ...current]);
      }
    } catch (e) {
      if (ticket === generation.current) setError(describeError(e));
    }
  }, []);

  // biome-ignore lint/correctness/useExhaustiveDependencies: resetKey is a trigger, not an input.
  useEffect(() => {
    generation.current++;
    eventsRef.current = undefined;
    setEvents(undefined);
    setNextBefore(null);
    setTotal(undefined);
    setError(undefined);
    void refresh();
  }, [resetKey, refresh]);

  const firstSignal = useRef(reloadSignal);
  useEffect(() => {
    if (reloadSignal !== firstSignal.current) void refresh();
  }, [reloadSignal, refresh]);

  useEffect(() => {
    const onVisible = () => {
      if (document.visibilityState === "visible") void refresh();
    };
    const timer = window.setInterval(onVisible, REFRESH_INTERVAL_MS);
    window.addEventListener("focus", onVisible);
    return () => {
      window.clearInterval(timer);
      window.removeEventListener("focus", onVisible);
    };
  }, [refresh]);

  /** Appends the next older page; resolves to the events it added. */
  const loadOlder = useCallback(async (): Promise<AuditEvent[]> => {
    if (nextBefore === null || loadingOlder) return [];
    const ticket = generation.current;
    setLoadingOlder(true);
    try {
      const page = await loadPageRef.current(nextBefore);
      if (ticket !== generation.current) return [];
      const known = new Set(eventsRef.current?.map((e) => e.id));
      const added = page.events.filter((e) => !known.has(e.id));
      setEvents((prev) => [...(prev ?? []), ...added]);
      setNextBefore(page.nextBefore);
      setTotal(page.total);
      setError(undefined);
      return added;
    } catch (e) {
      if (ticket === generation.current) setError(describeError(e));
      return [];
    } finally {
      if (ticket === generation.current) setLoadingOlder(false);
    }
  }, [nextBefore, loadingOlder]);

  return { events, nextBefore, total, error, loadingOlder, loadOlder, refresh };
}

function Sentence({ parts }: { parts: readonly SentencePart[] }) {
  return (
    <>
      {parts.map((part, i) =>
        typeof part === "string" ? (
          part
        ) : "name" in part ? (
          // Index keys: a sentence's parts never reorder.
          // biome-ignore lint/suspicious/noArrayIndexKey: see above.
          <span key={i} className="audit-name">
            “<LongText text={part.name} />”
          </span>
        ) : (
          // biome-ignore lint/suspicious/noArrayIndexKey: see above.
          <LongText key={i} text={part.email} />
        ),
      )}
    </>
  );
}

function rowId(prefix: string, eventId: string): string {
  return `${prefix}-${eventId}`;
}

/** The table, the "Load older" button and what screen readers hear about both. */
function AuditList({
  feed,
  labelledBy,
  emptyText,
  columns,
  tableClassName,
  renderRow,
}: {
  feed: ReturnType<typeof useAuditFeed>;
  labelledBy: string;
  emptyText: string;
  columns: string[];
  /** Names the column tracks (--columns) of this trail's grid. */
  tableClassName: string;
  renderRow: (event: AuditEvent, rowHeaderId: string) => ReactNode;
}) {
  const prefix = useId();
  const [announcement, setAnnouncement] = useState("");
  const [focusEventId, setFocusEventId] = useState<string | undefined>();
  const { events, nextBefore, error, loadingOlder } = feed;

  useEffect(() => {
    if (focusEventId === undefined) return;
    document.getElementById(rowId(prefix, focusEventId))?.focus();
    setFocusEventId(undefined);
  }, [focusEventId, prefix]);

  const loadOlder = async () => {
    const added = await feed.loadOlder();
    if (added.length === 0) return;
    setAnnouncement(`${plural(added.length, "older event", "older events")} loaded.`);
    // The button stays where it was while there is more; when it goes, focus moves to the
    // first event it brought, not to the top of the page.
    const first = added[0];
    if (first) setFocusEventId(first.id);
  };

  return (
    <>
      {error && (
        <div className="callout callout-danger card-callout" role="alert">
          {error}{" "}
          <button type="button" className="button button-small" onClick={() => void feed.refresh()}>
            Try again
          </button>
        </div>
      )}
      {!events && !error && (
        <p className="loading card-pad" role="status">
          Loading activity…
        </p>
      )}
      {events && events.length === 0 && <p className="empty card-pad">{emptyText}</p>}
      {events && events.length > 0 && (
        <div className="table-wrap">
          <table
            className={`table grid-table audit-table ${tableClassName}`}
            aria-labelledby={labelledBy}
          >
            <thead>
              <tr>
                {columns.map((column) => (
                  <th key={column} scope="col">
                    {column}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>{events.map((event) => renderRow(event, rowId(prefix, event.id)))}</tbody>
          </table>
        </div>
      )}
      {events && nextBefore !== null && (
        <div className="card-footer">
          <button
            type="button"
            className="button button-small"
            aria-busy={loadingOlder}
            onClick={() => void loadOlder()}
          >
            {loadingOlder ? "Loading…" : "Load older"}
          </button>
        </div>
      )}
      <p className="sr-only" role="status" aria-live="polite">
        {announcement}
      </p>
    </>
  );
}

function Address({ ip }: { ip: string | null }) {
  return ip ? <LongText className="mono" text={ip} /> : <span className="muted">—</span>;
}

/** One event: when, what (the row's header), who when the trail shows it, and from where. */
function AuditRow({
  event,
  className,
  rowHeaderId,
  now,
  actor,
  children,
}: {
  event: AuditEvent;
  className: string;
  rowHeaderId: string;
  now: number;
  /** The Actor cell's content; the account's own trail has no Actor column. */
  actor?: ReactNode;
  children: ReactNode;
}) {
  return (
    <tr className={className}>
      <td className="cell-when" data-label="When">
        <RelativeTime iso={event.createdAt} now={now} />
      </td>
      <th scope="row" id={rowHeaderId} tabIndex={-1} className="cell-event cell-wide">
        {children}
      </th>
      {actor !== undefined && (
        <td className="cell-actor cell-wide" data-label="Actor">
          {actor}
        </td>
      )}
      <td data-label="Address">
        <Address ip={event.ip} />
      </td>
    </tr>
  );
}

/**
 * An application's audit trail (owners and admins: all of it; members: their own tokens'
 * events, which the server decides), or one token's when `tokenId` is given.
 */
export function ActivitySection({
  appId,
  tokenId,
  manager,
  meId,
  reloadSignal,
  className = "section",
}: {
  appId: string;
  tokenId?: string;
  manager: boolean;
  meId: string;
  /** Changes when the page changed something the trail records. */
  reloadSignal: number;
  className?: string;
}) {
  const id = useId();
  const headingId = `${id}-heading`;
  const filterId = `${id}-filter`;
  // "" is "every action"; the options are the labelled actions only.
  const [action, setAction] = useState<AuditAction | "">("");
  const [search, setSearch] = useState("");
  // The server searches: wait for the typing to pause before asking.
  const query = useDebounced(search.trim(), 300);
  const now = useNow();
  const choices = applicationActionLabels.filter(
    ([value]) => TOKEN_ACTIONS.has(value) || (manager && tokenId === undefined),
  );

  const loadPage = useCallback(
    (before: string | undefined) =>
      api.applicationAudit(appId, {
        tokenId,
        action: action || undefined,
        q: query || undefined,
        before,
        limit: PAGE_SIZE,
      }),
    [appId, tokenId, action, query],
  );
  const feed = useAuditFeed(loadPage, `${appId}/${tokenId ?? ""}/${action}/${query}`, reloadSignal);
  const emails = useMemo(() => knownEmails(feed.events ?? []), [feed.events]);

  const lede =
    tokenId !== undefined
      ? "Everything that happened to this token, newest first."
      : manager
        ? "Every token and member change in this application, newest first."
        : "What happened to your tokens in this application, newest first.";

  return (
    <section className={className} aria-labelledby={headingId}>
      <div className="section-header">
        <div>
          <h2 id={headingId}>Activity</h2>
          <p className="section-lede">{lede}</p>
        </div>
      </div>
      <div className="card card-flush">
        <div className="card-toolbar">
          <span className="muted" role="status">
            {feed.events && feed.total !== undefined
              ? feed.nextBefore !== null
                ? `${formatCount(feed.events.length)} of ${plural(feed.total, "event", "events")} shown`
                : plural(feed.total, "event", "events")
              : ""}
          </span>
          {tokenId === undefined && (
            <SearchBox
              label="Search activity by actor or token"
              value={search}
              onChange={setSearch}
            />
          )}
          <div className="field field-inline">
            <label htmlFor={filterId}>Event type</label>
            <select
              id={filterId}
              value={action}
              onChange={(e) => setAction(e.target.value as AuditAction | "")}
            >
              <option value="">All events</option>
              {choices.map(([value, label]) => (
                <option key={value} value={value}>
                  {label}
                </option>
              ))}
            </select>
          </div>
        </div>
        <AuditList
          feed={feed}
          labelledBy={headingId}
          emptyText={
            query
              ? `No events match “${query}”.`
              : action
                ? "No events of this type."
                : "Nothing has happened here yet."
          }
          columns={["When", "Event", "Actor", "Address"]}
          tableClassName="application-audit-table"
          renderRow={(event, rowHeaderId) => (
            <AuditRow
              key={event.id}
              event={event}
              className={isAlarming(event) ? "audit-row audit-alert" : "audit-row"}
              rowHeaderId={rowHeaderId}
              now={now}
              actor={
                event.actor ? (
                  <span className="actor-line">
                    {event.actor.email ? (
                      <LongText text={event.actor.email} />
                    ) : event.actor.name ? (
                      // A service key or a host user without an email: named by the server.
                      <LongText text={event.actor.name} />
                    ) : (
                      <span className="muted">Deleted account</span>
                    )}
                    {event.actor.id === meId && <span className="muted"> (you)</span>}
                  </span>
                ) : (
                  <span className="muted">{systemActor(event)}</span>
                )
              }
            >
              <Sentence parts={describeEvent(event, emails)} />
            </AuditRow>
          )}
        />
      </div>
    </section>
  );
}

/** Events that call for action: a secret that may be in someone else's hands. */
function isAlarming(event: AuditEvent): boolean {
  return (
    event.action === "token.exposed" ||
    (event.action === "token.revoked" && event.reason === "leaked")
  );
}

/** Who acted when no user did. */
function systemActor(event: AuditEvent): string {
  if (event.reason === "leaked") return "Leak report";
  return "Keyward";
}

/** The signed-in user's own sign-ups and sign-ins; failed sign-ins stand out. */
export function AccountActivitySection() {
  const headingId = "account-activity-heading";
  const now = useNow();
  const loadPage = useCallback(
    (before: string | undefined) => api.accountAudit({ before, limit: 10 }),
    [],
  );
  const feed = useAuditFeed(loadPage, "account", 0);
  const failed = feed.events?.filter((e) => e.action === "signin.failed").length ?? 0;

  return (
    <section className="card card-flush account-activity" aria-labelledby={headingId}>
      <div className="card-toolbar">
        <h2 id={headingId} className="card-title">
          Account activity
        </h2>
        <span className="muted">Sign-ups and sign-ins to your account</span>
      </div>
      {failed > 0 && (
        <div className="callout callout-warning card-callout">
          <strong>{plural(failed, "failed sign-in", "failed sign-ins")} below.</strong> If that was
          not you, someone may be guessing your password: make sure it is long and used nowhere
          else.
        </div>
      )}
      <AuditList
        feed={feed}
        labelledBy={headingId}
        emptyText="No sign-ins recorded yet."
        columns={["When", "Event", "Address"]}
        tableClassName="account-audit-table"
        renderRow={(event, rowHeaderId) => {
          const isFailure = event.action === "signin.failed";
          return (
            <AuditRow
              key={event.id}
              event={event}
              className={isFailure ? "audit-row row-failed" : "audit-row"}
              rowHeaderId={rowHeaderId}
              now={now}
            >
              {/* The words say it; the mark (drawn by CSS) makes it catch the eye. */}
              {isFailure && <span className="failed-mark" aria-hidden="true" />}
              {sentenceText(describeEvent(event))}
            </AuditRow>
          );
        }}
      />
    </section>
  );
}
