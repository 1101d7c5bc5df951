import { useCallback, useEffect, useRef, useState } from "react";
import { type ApiToken, type Application, api, describeError } from "../api";
import { AttentionPanel } from "./attention-panel";
import { CreateTokenForm, type TokenPrefill } from "./create-token-form";
import { type Issued, RegenerateDialog, RevokeDialog, ShowTokenDialog } from "./token-dialogs";
import { TokenTable, tokenNameId, type UsageState } from "./token-table";
import { useNow } from "./use-now";
import "./tokens-section.css";

/** How often the list refreshes itself while the tab is visible (Last used, usage, status). */
const REFRESH_INTERVAL_MS = 30_000;
const USAGE_DAYS = 30;
const USAGE_CONCURRENCY = 4;

type View = "mine" | "all";

/**
 * Loads the 30-day usage of each token, a few requests at a time. A token's usage is fetched
 * again only when its lastUsedAt moved, so the periodic list refresh costs one request, not
 * one per token.
 */
function useUsage(appId: string, tokens: ApiToken[] | undefined) {
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
    const queue = tokens
      .map((t) => ({ id: t.id, key: t.lastUsedAt ?? "never" }))
      .filter(({ id, key }) => fetchedFor.current.get(id) !== key);
    for (const { id, key } of queue) fetchedFor.current.set(id, key);
    const worker = async () => {
      for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
        const { id } = next;
        let state: UsageState;
        try {
          state = await api.tokenUsage(appId, id, USAGE_DAYS);
        } catch {
          state = "error";
          fetchedFor.current.delete(id); // try again with the next refresh
        }
        if (!mounted.current) return;
        setUsage((prev) => new Map(prev).set(id, state));
      }
    };
    for (let i = 0; i < USAGE_CONCURRENCY; i++) void worker();
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
  const usage = useUsage(app.id, tokens);
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
          <TokenTable
            appId={app.id}
            tokens={tokens}
            usage={usage}
            now={now}
            meId={meId}
            showOwner={view === "all"}
            labelledBy="token-list-heading"
            onRevoke={setRevoking}
            onRegenerate={setRegenerating}
          />
        )}
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
