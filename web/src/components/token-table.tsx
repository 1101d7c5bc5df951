import type { ApiToken, TokenUsage } from "../api";
import { formatCount, formatExact } from "../format";
import {
  flagLabels,
  type HygieneFlag,
  hygieneFlags,
  refusalSummary,
  revokedReasonLabels,
} from "../hygiene";
import { Link, paths } from "../router";
import { LongText } from "./long-text";
import { RelativeTime } from "./relative-time";
import { Sparkline } from "./sparkline";
import "./token-table.css";

export type UsageState = TokenUsage | "loading" | "error";

export const statusLabels: Record<ApiToken["status"], string> = {
  active: "Active",
  expired: "Expired",
  revoked: "Revoked",
};

export function tokenNameId(tokenId: string): string {
  return `token-name-${tokenId}`;
}

export function StatusBadge({ status }: { status: ApiToken["status"] }) {
  return <span className={`badge badge-${status}`}>{statusLabels[status]}</span>;
}

/** A token's hygiene flags as labelled chips, inside the given wrapper (a flex row). */
export function FlagChips({ flags, className }: { flags: HygieneFlag[]; className?: string }) {
  return (
    <span className={className}>
      {flags.map((flag) => (
        <span key={flag} className={`flag flag-${flag}`}>
          {flagLabels[flag]}
        </span>
      ))}
    </span>
  );
}

export function TokenTable({
  appId,
  tokens,
  usage,
  now,
  meId,
  showOwner,
  labelledBy,
  onRevoke,
  onRegenerate,
  revokeUnusedAfterDays = null,
}: {
  /** The application's unused-token policy: tokens it revokes within 7 days are marked. */
  revokeUnusedAfterDays?: number | null;
  appId: string;
  tokens: ApiToken[];
  usage: ReadonlyMap<string, UsageState>;
  now: number;
  meId: string;
  showOwner: boolean;
  labelledBy: string;
  onRevoke: (token: ApiToken) => void;
  onRegenerate: (token: ApiToken) => void;
}) {
  return (
    <div className="table-wrap">
      <table
        className={`table grid-table token-table${showOwner ? " token-table-owners" : ""}`}
        aria-labelledby={labelledBy}
      >
        <thead>
          <tr>
            <th scope="col">Name</th>
            {showOwner && <th scope="col">Owner</th>}
            <th scope="col">Created</th>
            <th scope="col">Last used</th>
            <th scope="col">Expires</th>
            <th scope="col">Status</th>
            <th scope="col">Requests, 30 days</th>
            <th scope="col">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {tokens.map((token) => {
            const flags = hygieneFlags(token, now);
            const mine = !token.owner || token.owner.id === meId;
            const active = token.status === "active";
            const tokenUsage = usage.get(token.id);
            const refusal = refusalSummary(token);
            return (
              <tr
                key={token.id}
                className={active ? "row-active" : `row-inactive row-${token.status}`}
              >
                <th scope="row" className="cell-name">
                  <Link
                    to={paths.token(appId, token.id)}
                    id={tokenNameId(token.id)}
                    className="token-name truncate"
                    title={token.name}
                    dir="auto"
                  >
                    {token.name}
                  </Link>
                  <span className="token-meta">
                    <span className="mono token-hint">{token.hint}</span>
                    {token.scopes.map((scope) => (
                      <span key={scope} className="chip mono">
                        {scope}
                      </span>
                    ))}
                  </span>
                </th>
                {showOwner && (
                  <td className="cell-owner cell-wide" data-label="Owner">
                    <span className="owner-line">
                      <LongText text={token.owner?.email ?? ""} />
                      {mine && <span className="muted">(you)</span>}
                    </span>
                  </td>
                )}
                <td data-label="Created">
                  <RelativeTime iso={token.createdAt} now={now} />
                </td>
                <td data-label="Last used">
                  {token.lastUsedAt ? (
                    <RelativeTime iso={token.lastUsedAt} now={now} />
                  ) : (
                    <span className="muted">Never</span>
                  )}
                </td>
                <td data-label="Expires">
                  {token.expiresAt ? (
                    <RelativeTime iso={token.expiresAt} now={now} />
                  ) : (
                    <span className={active ? "warning-text" : "muted"}>Never</span>
                  )}
                </td>
                <td className="cell-status" data-label="Status">
                  <StatusBadge status={token.status} />
                  {token.status === "revoked" && token.revokedAt && (
                    <span className="status-when">
                      <RelativeTime iso={token.revokedAt} now={now} />
                      {token.revokedReason && revokedReasonLabels[token.revokedReason] && (
                        <span className="status-reason">
                          {revokedReasonLabels[token.revokedReason]}
                        </span>
                      )}
                    </span>
                  )}
                  {(() => {
                    if (!active || revokeUnusedAfterDays === null) return null;
                    const from = Date.parse(token.lastUsedAt ?? token.createdAt);
                    const at = from + revokeUnusedAfterDays * 86_400_000;
                    if (at - now > 7 * 86_400_000) return null;
                    return (
                      <span
                        className="flag flag-refused"
                        data-testid="policy-revocation"
                        title="The application revokes tokens left unused; use the token to keep it."
                      >
                        Unused: revoked on {formatExact(new Date(at).toISOString())}
                      </span>
                    );
                  })()}
                  {refusal && (
                    <span
                      className="flag flag-refused"
                      title={
                        token.lastRefusedAt
                          ? `Last presented ${formatExact(token.lastRefusedAt)}`
                          : undefined
                      }
                    >
                      {refusal}
                    </span>
                  )}
                  {flags.length > 0 && <FlagChips flags={flags} className="flags" />}
                </td>
                <td className="cell-usage" data-label="Requests, 30 days">
                  {tokenUsage === undefined || tokenUsage === "loading" ? (
                    <span className="muted sparkline-placeholder">…</span>
                  ) : tokenUsage === "error" ? (
                    <span className="muted">Unavailable</span>
                  ) : (
                    <span className="usage-cell">
                      <Sparkline daily={tokenUsage.daily} />
                      <span className="usage-total">
                        {formatCount(tokenUsage.daily.reduce((sum, d) => sum + d.requests, 0))}
                      </span>
                    </span>
                  )}
                </td>
                <td className="cell-actions">
                  {active && (
                    <span className="row-actions">
                      {mine && (
                        <button
                          type="button"
                          className="button button-small"
                          aria-describedby={tokenNameId(token.id)}
                          onClick={() => onRegenerate(token)}
                        >
                          Regenerate
                        </button>
                      )}
                      <button
                        type="button"
                        className="button button-small button-danger-outline"
                        aria-describedby={tokenNameId(token.id)}
                        onClick={() => onRevoke(token)}
                      >
                        Revoke
                      </button>
                    </span>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
