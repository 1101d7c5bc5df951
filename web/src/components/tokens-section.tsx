import { useCallback, useEffect, useId, useMemo, useRef, useState } from "react";
import { type ApiToken, type Application, api, describeError } from "../api";
import { plural } from "../format";
import { AttentionPanel } from "./attention-panel";
import { CreateTokenForm, type TokenPrefill } from "./create-token-form";
import { Pager, SearchBox, searchKey, useDebounced, usePage } from "./list-controls";
import { type Issued, RegenerateDialog, RevokeDialog, ShowTokenDialog } from "./token-dialogs";
import { TokenTable, tokenNameId, type UsageState } from "./token-table";
import { useNow } from "./use-now";
import "./tokens-section.css";

/** How often the list refreshes itself while the tab is visible (Last used, usage, status). */
const REFRESH_INTERVAL_MS = 30_000;
const USAGE_DAYS = 30;
/** Most ids one usage request may name (the server's limit). */
const USAGE_IDS_PER_REQUEST = 100;

type View = "mine" | "all";
type SortKey = "created" | "name" | "lastUsed";

const sortLabels: Record<SortKey, string> = {
  created: "Newest first",
  name: "Name",
  lastUsed: "Last used",
};

function compareTokens(key: SortKey): (a: ApiToken, b: ApiToken) => number {
  switch (key) {
    case "name":
      return (a, b) => a.name.localeCompare(b.name, undefined, { sensitivity: "base" });
    case "lastUsed":
      // Most recently used first; never used last.
      return (a, b) => (b.lastUsedAt ?? "").localeCompare(a.lastUsedAt ?? "");
    case "created":
      return (a, b) => b.createdAt.localeCompare(a.createdAt);
  }
}

/**
 * Loads the 30-day usage of the tokens on screen in one request per page, whatever their
 * number. A token's usage is fetched again only when its lastUsedAt moved, so the periodic
 * list refresh costs one list request and at most one usage request.
 */
function useUsage(appId: string, tokens: readonly ApiToken[] | undefined) {
  const [usage, setUsage] = useState<ReadonlyMap<string, UsageState>>(new Map());
  const fetchedFor = useRef(new Map<string, string>());
  const mounted = useRef(true);
  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);
  useEffect(() => {
    if (!tokens) return;
    const due = tokens
      .map((t) => ({ id: t.id, key: t.lastUsedAt ?? "never" }))
      .filter(({ id, key }) => fetchedFor.current.get(id) !== key);
    for (const { id, key } of due) fetchedFor.current.set(id, key);
    for (let i = 0; i < due.length; i += USAGE_IDS_PER_REQUEST) {
      const ids = due.slice(i, i + USAGE_IDS_PER_REQUEST).map((d) => d.id);
      api.usageOfTokens(appId, ids, USAGE_DAYS).then(
        (answer) => {
          if (!mounted.current) return;
          setUsage((prev) => {
            const next = new Map(prev);
            for (const u of answer.tokens) next.set(u.tokenId, { ...u, lastUsedAt: null });
            return next;
          });
        },
        () => {
          // Try again with the next refresh.
          for (const id of ids) fetchedFor.current.delete(id);
          if (!mounted.current) return;
          setUsage((prev) => {
            const next = new Map(prev);
            for (const id of ids) next.set(id, "error");
            return next;
          });
        },
      );
    }
  }, [appId, tokens]);
  return usage;
}

export function TokensSection({
  app,
  meId,
  reloadSignal,
  onTokensChanged,
}: {
  app: Application;
  meId: string;
  /** Changes when something outside this section changed tokens (a member was removed). */
  reloadSignal: number;
  /** Called after this section created, regenerated or revoked a token. */
  onTokensChanged?: () => void;
}) {
  const manager = app.role === "owner" || app.role === "admin";
  const [view, setView] = useState<View>("mine");
  const [tokens, setTokens] = useState<ApiToken[] | undefined>();
  const [loadError, setLoadError] = useState<string | undefined>();
  const [issued, setIssued] = useState<Issued | undefined>();
  const [revoking, setRevoking] = useState<ApiToken | undefined>();
  const [regenerating, setRegenerating] = useState<ApiToken | undefined>();
  const [announcement, setAnnouncement] = useState("");
  const [prefill, setPrefill] = useState<TokenPrefill | undefined>();
  const now = useNow();
  const [search, setSearch] = useState("");
  const [sort, setSort] = useState<SortKey>("created");
  const settledSearch = useDebounced(search, 150);
  const listed = useMemo(() => {
    const wanted = searchKey(settledSearch.trim());
    const matching = wanted
      ? (tokens ?? []).filter(
          (t) =>
            searchKey(t.name).includes(wanted) ||
            (t.owner !== undefined && searchKey(t.owner.email).includes(wanted)),
        )
      : (tokens ?? []);
    return [...matching].sort(compareTokens(sort));
  }, [tokens, settledSearch, sort]);
  const page = usePage(listed, `${view}/${settledSearch}/${sort}`);
  const usage = useUsage(app.id, tokens ? page.shown : undefined);
  const headingRef = useRef<HTMLHeadingElement>(null);
  const latestLoad = useRef(0);

  const load = useCallback(async () => {
    const ticket = ++latestLoad.current;
    try {
      const response = await api.listTokens(app.id, view === "all");
      if (ticket !== latestLoad.current) return;
      setTokens(response.tokens);
      setLoadError(undefined);
    } catch (e) {
      if (ticket === latestLoad.current) setLoadError(describeError(e));
    }
  }, [app.id, view]);

  // biome-ignore lint/correctness/useExhaustiveDependencies: reloadSignal is a trigger, not an input.
  useEffect(() => {
    void load();
  }, [load, reloadSignal]);

  // Keep Last used and usage fresh without a reload, but only while someone is looking.
  useEffect(() => {
    const refresh = () => {
      if (document.visibilityState === "visible") void load();
    };
    const timer = window.setInterval(refresh, REFRESH_INTERVAL_MS);
    window.addEventListener("focus", refresh);
    return () => {
      window.clearInterval(timer);
      window.removeEventListener("focus", refresh);
    };
  }, [load]);

  const replaceToken = (updated: ApiToken) =>
    setTokens((prev) => prev?.map((t) => (t.id === updated.id ? { ...t, ...updated } : t)));

  const onIssued = (next: Issued) => {
    setRegenerating(undefined);
    setIssued(next);
    onTokensChanged?.();
    if (next.kind === "created") {
      setTokens((prev) => [
        next.apiToken,
        ...(prev ?? []).filter((t) => t.id !== next.apiToken.id),
      ]);
      // The everyone's-tokens view shows owners, which a creation answer does not carry.
      if (view === "all") void load();
    } else {
      replaceToken(next.apiToken);
    }
  };

  const focusHeading = () => headingRef.current;
  const sortId = useId();
  const activeCount = tokens?.filter((t) => t.status === "active").length ?? 0;

  return (
    <section className="section" aria-labelledby="tokens-heading">
      <div className="section-header">
        <div>
          <h2 id="tokens-heading" ref={headingRef} tabIndex={-1}>
            API Tokens
          </h2>
          <p className="section-lede">
            Tokens let your programs call this application’s API as you. Each is shown once, stored
            only as a hash, and can be revoked at any time.
          </p>
        </div>
      </div>

      <div className="card">
        <CreateTokenForm
          app={app}
          onIssued={onIssued}
          onListStale={() => void load()}
          prefill={prefill}
        />
      </div>

      {tokens && (
        <AttentionPanel
          tokens={tokens}
          now={now}
          meId={meId}
          onRevoke={setRevoking}
          onRegenerate={setRegenerating}
          onReplace={(token) =>
            setPrefill((prev) => ({
              name: `${token.name} (new)`,
              scopes: token.scopes,
              nonce: (prev?.nonce ?? 0) + 1,
            }))
          }
        />
      )}

      <div className="card card-flush">
        <div className="card-toolbar">
          <h3 id="token-list-heading" className="card-title">
            {view === "all" ? "Everyone’s tokens" : "Your tokens"}
            {tokens && <span className="count">{activeCount} active</span>}
          </h3>
          {manager && (
            <fieldset className="segmented">
              <legend className="sr-only">Show tokens of</legend>
              {(["mine", "all"] as const).map((value) => (
                <label key={value} className={view === value ? "segment segment-on" : "segment"}>
                  <input
                    type="radio"
                    name="token-view"
                    value={value}
                    checked={view === value}
                    onChange={() => {
                      setView(value);
                      setTokens(undefined);
                    }}
                  />
                  {value === "mine" ? "Your tokens" : "All members"}
                </label>
              ))}
            </fieldset>
          )}
        </div>
        {loadError && (
          <div className="callout callout-danger card-callout" role="alert">
            {loadError}{" "}
            <button type="button" className="button button-small" onClick={() => void load()}>
              Try again
            </button>
          </div>
        )}
        {!tokens && !loadError && (
          <p className="loading card-pad" role="status">
            Loading tokens…
          </p>
        )}
        {tokens && tokens.length === 0 && (
          <div className="empty card-pad">
            <p className="empty-title">No tokens yet</p>
            <p>Create one above; it appears here with its usage once your program calls the API.</p>
          </div>
        )}
        {tokens && tokens.length > 0 && (
          <div className="list-controls">
            <SearchBox
              label={view === "all" ? "Search tokens by name or owner" : "Search tokens by name"}
              value={search}
              onChange={setSearch}
            />
            <div className="field field-inline">
              <label htmlFor={sortId}>Sort</label>
              <select id={sortId} value={sort} onChange={(e) => setSort(e.target.value as SortKey)}>
                {(Object.keys(sortLabels) as SortKey[]).map((key) => (
                  <option key={key} value={key}>
                    {sortLabels[key]}
                  </option>
                ))}
              </select>
            </div>
            <span className="list-total" role="status">
              {settledSearch.trim()
                ? `${plural(listed.length, "match", "matches")} of ${tokens.length}`
                : plural(tokens.length, "token", "tokens")}
            </span>
          </div>
        )}
        {tokens && tokens.length > 0 && listed.length === 0 && (
          <p className="empty card-pad">No tokens match “{settledSearch.trim()}”.</p>
        )}
        {tokens && page.shown.length > 0 && (
          <TokenTable
            appId={app.id}
            tokens={page.shown}
            usage={usage}
            now={now}
            meId={meId}
            showOwner={view === "all"}
            labelledBy="token-list-heading"
            onRevoke={setRevoking}
            onRegenerate={setRegenerating}
            revokeUnusedAfterDays={app.policy.revokeUnusedAfterDays}
          />
        )}
        {tokens && <Pager page={page} noun="tokens" />}
      </div>
      <p className="sr-only" role="status" aria-live="polite">
        {announcement}
      </p>

      {issued && (
        <ShowTokenDialog
          issued={issued}
          onClose={() => setIssued(undefined)}
          returnFocus={() => document.getElementById(tokenNameId(issued.apiToken.id))}
        />
      )}
      {revoking && (
        <RevokeDialog
          appId={app.id}
          token={revoking}
          now={now}
          meId={meId}
          onCancel={() => setRevoking(undefined)}
          onRevoked={(token) => {
            replaceToken(token);
            setRevoking(undefined);
            onTokensChanged?.();
            setAnnouncement(`Token “${token.name}” revoked.`);
          }}
          returnFocus={() => document.getElementById(tokenNameId(revoking.id)) ?? focusHeading()}
        />
      )}
      {regenerating && (
        <RegenerateDialog
          appId={app.id}
          token={regenerating}
          onCancel={() => setRegenerating(undefined)}
          onIssued={onIssued}
        />
      )}
    </section>
  );
}
