import { type FormEvent, useCallback, useEffect, useId, useState } from "react";
import { type ApiToken, api, describeError, type TokenUsage } from "../api";
import { ActivitySection } from "../components/activity";
import { usePageHeading } from "../components/brand";
import { AppShell } from "../components/layout";
import { LongText } from "../components/long-text";
import { RelativeTime } from "../components/relative-time";
import {
  type Issued,
  RegenerateDialog,
  RevokeDialog,
  ShowTokenDialog,
} from "../components/token-dialogs";
import { FlagChips, StatusBadge } from "../components/token-table";
import { UsageChart } from "../components/usage-chart";
import { useNow } from "../components/use-now";
import { formatCount, formatExact, plural } from "../format";
import { hygieneFlags, refusalSummary, revokedReasonLabels } from "../hygiene";
import { Link, paths } from "../router";
import { useSession } from "../session";
import { ApplicationMissing, useApplication } from "./account-page";
import "./token-detail-page.css";

const RANGES = [7, 30, 90] as const;

/** One token: its daily usage, last use, scopes and expiry, with the same actions as its row. */
export function TokenDetailPage({ appId, tokenId }: { appId: string; tokenId: string }) {
  const { app, error: appError } = useApplication(appId);
  const [token, setToken] = useState<ApiToken | undefined>();
  const [error, setError] = useState<string | undefined>();

  useEffect(() => {
    if (!app) return;
    let cancelled = false;
    const manager = app.role === "owner" || app.role === "admin";
    // The listings say whose token it is (the single-token answer does not).
    (async () => {
      const own = await api.listTokens(app.id, false);
      let found = own.tokens.find((t) => t.id === tokenId);
      if (!found && manager) {
        found = (await api.listTokens(app.id, true)).tokens.find((t) => t.id === tokenId);
      }
      if (cancelled) return;
      if (found) setToken(found);
      else setError("This token does not exist, or it is not yours to see.");
    })().catch((e: unknown) => {
      if (!cancelled) setError(describeError(e));
    });
    return () => {
      cancelled = true;
    };
  }, [app, tokenId]);

  return (
    <AppShell
      crumbs={[
        { label: "Applications", to: paths.apps() },
        { label: app?.name ?? "…", to: paths.account(appId) },
        { label: token?.name ?? "Token", to: paths.token(appId, tokenId) },
      ]}
    >
      {appError && <ApplicationMissing {...appError} />}
      {error && <TokenMissing appId={appId} message={error} />}
      {!appError && !error && !token && (
        <p className="loading" role="status">
          Loading token…
        </p>
      )}
      {token && <TokenDetail appId={appId} token={token} onChange={setToken} />}
    </AppShell>
  );
}

function TokenMissing({ appId, message }: { appId: string; message: string }) {
  const heading = usePageHeading("Token not found");
  return (
    <div className="empty empty-page">
      <h1 ref={heading} tabIndex={-1}>
        Token not found
      </h1>
      <p>{message}</p>
      <p>
        <Link to={paths.account(appId)} className="button">
          Back to API Tokens
        </Link>
      </p>
    </div>
  );
}

function TokenDetail({
  appId,
  token,
  onChange,
}: {
  appId: string;
  token: ApiToken;
  onChange: (token: ApiToken) => void;
}) {
  const { me } = useSession();
  const heading = usePageHeading(`Token ${token.name}`);
  const now = useNow();
  const [days, setDays] = useState<(typeof RANGES)[number]>(30);
  const [usage, setUsage] = useState<TokenUsage | undefined>();
  const [usageError, setUsageError] = useState<string | undefined>();
  const [revoking, setRevoking] = useState(false);
  const [regenerating, setRegenerating] = useState(false);
  const [issued, setIssued] = useState<Issued | undefined>();
  const [activityReload, setActivityReload] = useState(0);
  const mine = !token.owner || token.owner.id === me.user.id;
  const flags = hygieneFlags(token, now);

  const loadUsage = useCallback(async () => {
    try {
      setUsage(await api.tokenUsage(appId, token.id, days));
      setUsageError(undefined);
    } catch (e) {
      setUsageError(describeError(e));
    }
  }, [appId, token.id, days]);

  useEffect(() => {
    void loadUsage();
  }, [loadUsage]);

  const rangeTotal = usage?.daily.reduce((sum, d) => sum + d.requests, 0) ?? 0;

  return (
    <>
      <p className="back-link">
        <Link to={paths.account(appId)}>← All API Tokens</Link>
      </p>
      <div className="page-header">
        <div>
          <p className="eyebrow">API token</p>
          <h1 ref={heading} tabIndex={-1} className="token-title token-name-text" dir="auto">
            {token.name}
          </h1>
          <p className="page-meta">
            <StatusBadge status={token.status} />
            <code className="mono muted">{token.hint}</code>
            <FlagChips flags={flags} className="page-meta-flags" />
          </p>
        </div>
        {token.status === "active" && (
          <div className="page-actions">
            {mine && (
              <button type="button" className="button" onClick={() => setRegenerating(true)}>
                Regenerate
              </button>
            )}
            <button
              type="button"
              className="button button-danger-outline"
              onClick={() => setRevoking(true)}
            >
              Revoke
            </button>
          </div>
        )}
      </div>

      <div className="grid-detail">
        <section className="card" aria-labelledby="usage-heading">
          <div className="card-toolbar card-toolbar-plain">
            <h2 id="usage-heading" className="card-title">
              Daily usage
            </h2>
            <div className="field field-inline">
              <label htmlFor="usage-range">Period</label>
              <select
                id="usage-range"
                value={days}
                onChange={(e) => setDays(Number(e.target.value) as (typeof RANGES)[number])}
              >
                {RANGES.map((n) => (
                  <option key={n} value={n}>
                    Last {n} days
                  </option>
                ))}
              </select>
            </div>
          </div>
          {usageError && (
            <div className="callout callout-danger" role="alert">
              {usageError}
            </div>
          )}
          {!usage && !usageError && (
            <p className="loading" role="status">
              Loading usage…
            </p>
          )}
          {usage && (
            <>
              <dl className="stats">
                <div>
                  <dt>Last {days} days</dt>
                  <dd>{formatCount(rangeTotal)}</dd>
                </div>
                <div>
                  <dt>All time</dt>
                  <dd>{formatCount(usage.total)}</dd>
                </div>
              </dl>
              <UsageChart daily={usage.daily} />
              <p className="field-hint">Days are UTC. Counts can lag real use by a few seconds.</p>
            </>
          )}
        </section>

        <section className="card" aria-labelledby="facts-heading">
          <h2 id="facts-heading" className="card-title">
            Details
          </h2>
          <dl className="facts">
            <dt>Status</dt>
            <dd>
              <StatusBadge status={token.status} />
            </dd>
            <dt>Last used</dt>
            <dd>
              {token.lastUsedAt ? (
                <>
                  <RelativeTime iso={token.lastUsedAt} now={now} />
                  <span className="fact-exact">{formatExact(token.lastUsedAt)}</span>
                </>
              ) : (
                "Never"
              )}
            </dd>
            <dt>Created</dt>
            <dd>
              <RelativeTime iso={token.createdAt} now={now} />
              <span className="fact-exact">{formatExact(token.createdAt)}</span>
            </dd>
            <dt>Expires</dt>
            <dd>
              {token.expiresAt ? (
                <>
                  <RelativeTime iso={token.expiresAt} now={now} />
                  <span className="fact-exact">{formatExact(token.expiresAt)}</span>
                </>
              ) : (
                <span className={token.status === "active" ? "warning-text" : undefined}>
                  {token.status === "active"
                    ? "Never — revoke it when it is no longer needed"
                    : "Never"}
                </span>
              )}
            </dd>
            {token.revokedAt && (
              <>
                <dt>Revoked</dt>
                <dd>
                  <RelativeTime iso={token.revokedAt} now={now} />
                  {token.revokedReason && revokedReasonLabels[token.revokedReason] && (
                    <> ({revokedReasonLabels[token.revokedReason]})</>
                  )}
                  <span className="fact-exact">{formatExact(token.revokedAt)}</span>
                </dd>
              </>
            )}
            {token.refusedCount > 0 && (
              <>
                <dt>Refused</dt>
                <dd>
                  {refusalSummary(token)}
                  {token.lastRefusedAt && (
                    <span className="fact-exact">
                      Last presented {formatExact(token.lastRefusedAt)}: something still uses it.
                    </span>
                  )}
                </dd>
              </>
            )}
            {token.exposedAt && (
              <>
                <dt>Exposed</dt>
                <dd>
                  <span className="warning-text">Sent over plain HTTP</span>{" "}
                  <RelativeTime iso={token.exposedAt} now={now} />
                  <span className="fact-exact">
                    Regenerate it: anyone on the path may have read it.
                  </span>
                </dd>
              </>
            )}
            <dt>Scopes</dt>
            <dd>
              {token.scopes.length === 0 ? (
                <span className="muted">None</span>
              ) : (
                token.scopes.map((scope) => (
                  <span key={scope} className="chip mono">
                    {scope}
                  </span>
                ))
              )}
            </dd>
            <dt>Allowed from</dt>
            <dd>
              <AllowedAddresses
                appId={appId}
                token={token}
                editable={mine && token.status === "active"}
                onChange={onChange}
              />
            </dd>
            {token.owner && (
              <>
                <dt>Owner</dt>
                <dd>
                  <LongText text={token.owner.email} />
                </dd>
              </>
            )}
            <dt>Token ID</dt>
            <dd>
              <code className="mono">{token.id}</code>
            </dd>
          </dl>
          {usage && usage.total > 0 && (
            <p className="field-hint">
              {plural(usage.total, "request", "requests")} since creation.
            </p>
          )}
        </section>
      </div>

      <ActivitySection
        appId={appId}
        tokenId={token.id}
        manager={false}
        meId={me.user.id}
        reloadSignal={activityReload}
      />

      {revoking && (
        <RevokeDialog
          appId={appId}
          token={token}
          now={now}
          meId={me.user.id}
          onCancel={() => setRevoking(false)}
          onRevoked={(updated) => {
            onChange(updated);
            setActivityReload((n) => n + 1);
            setRevoking(false);
          }}
          returnFocus={() => heading.current}
        />
      )}
      {regenerating && (
        <RegenerateDialog
          appId={appId}
          token={token}
          onCancel={() => setRegenerating(false)}
          onIssued={(next) => {
            setRegenerating(false);
            onChange({ ...token, ...next.apiToken });
            setActivityReload((n) => n + 1);
            setIssued(next);
          }}
        />
      )}
      {issued && (
        <ShowTokenDialog
          issued={issued}
          onClose={() => setIssued(undefined)}
          returnFocus={() => heading.current}
        />
      )}
    </>
  );
}

/** Where the token is accepted from; its owner edits the list in place. */
function AllowedAddresses({
  appId,
  token,
  editable,
  onChange,
}: {
  appId: string;
  token: ApiToken;
  editable: boolean;
  onChange: (token: ApiToken) => void;
}) {
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState("");
  const [error, setError] = useState<string | undefined>();
  const [saving, setSaving] = useState(false);
  const fieldId = useId();

  async function save(event: FormEvent) {
    event.preventDefault();
    setSaving(true);
    try {
      const allowedAddresses = text.split(/[\s,]+/).filter((entry) => entry !== "");
      onChange(await api.updateToken(appId, token.id, { allowedAddresses }));
      setEditing(false);
      setError(undefined);
    } catch (e) {
      setError(describeError(e));
    } finally {
      setSaving(false);
    }
  }

  if (editing) {
    return (
      <form onSubmit={save} className="inline-form">
        <label htmlFor={fieldId}>Allowed addresses</label>
        <input
          id={fieldId}
          value={text}
          spellCheck={false}
          autoComplete="off"
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? `${fieldId}-error` : undefined}
          onChange={(e) => setText(e.target.value)}
        />
        {error && (
          <p id={`${fieldId}-error`} className="field-error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="button button-primary" aria-busy={saving}>
          Save addresses
        </button>
        <button type="button" className="button" onClick={() => setEditing(false)}>
          Cancel
        </button>
      </form>
    );
  }
  return (
    <div className="allowed-addresses">
      {token.allowedAddresses.length === 0 ? (
        <span className="muted">Any address</span>
      ) : (
        token.allowedAddresses.map((entry) => (
          <span key={entry} className="chip mono">
            {entry}
          </span>
        ))
      )}
      {editable && (
        <button
          type="button"
          className="button button-small"
          onClick={() => {
            setText(token.allowedAddresses.join(", "));
            setEditing(true);
          }}
        >
          Change allowed addresses
        </button>
      )}
    </div>
  );
}
