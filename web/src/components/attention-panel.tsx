import { useId, useState } from "react";
import type { ApiToken } from "../api";
import { daysBetween, formatRelative, plural } from "../format";
import { type HygieneFlag, hygieneFlags, suggestedAction } from "../hygiene";
import { FlagChips } from "./token-table";
import "./attention-panel.css";

/**
 * A long list would bury the token table on a phone (each item takes several lines there), so
 * past COLLAPSE_AFTER items only the first FIRST_ITEMS show until the user asks for all.
 * Hiding just one or two behind a button would cost more than showing them.
 */
const COLLAPSE_AFTER = 5;
const FIRST_ITEMS = 3;

function explain(token: ApiToken, flags: HygieneFlag[], now: number): string {
  const parts: string[] = [];
  if (flags.includes("exposed") && token.exposedAt) {
    parts.push(`sent over plain HTTP ${formatRelative(token.exposedAt, now)}; regenerate it`);
  }
  if (flags.includes("never-used")) {
    parts.push(
      `never used in the ${plural(daysBetween(Date.parse(token.createdAt), now), "day", "days")} since it was created`,
    );
  }
  if (flags.includes("unused-90-days") && token.lastUsedAt) {
    parts.push(`last used ${formatRelative(token.lastUsedAt, now)}`);
  }
  // For a token to revoke, its age adds nothing; for one to keep, it is why to rotate.
  if (flags.includes("older-than-90-days") && suggestedAction(flags) !== "revoke") {
    parts.push(`created ${formatRelative(token.createdAt, now)}; rotate it`);
  }
  if (flags.includes("expires-soon") && token.expiresAt) {
    parts.push(`expires ${formatRelative(token.expiresAt, now)}`);
  }
  return parts.join("; ");
}

/**
 * Tokens worth a look, each with the one action that fixes it: revoke what nobody uses,
 * replace what is about to expire, regenerate what is old.
 */
export function AttentionPanel({
  tokens,
  now,
  meId,
  onRevoke,
  onRegenerate,
  onReplace,
}: {
  tokens: ApiToken[];
  now: number;
  meId: string;
  onRevoke: (token: ApiToken) => void;
  onRegenerate: (token: ApiToken) => void;
  /** Prefills the create form for a token about to expire (regenerating keeps the expiry). */
  onReplace: (token: ApiToken) => void;
}) {
  const [showAll, setShowAll] = useState(false);
  const listId = useId();
  const flagged = tokens
    .map((token) => ({ token, flags: hygieneFlags(token, now) }))
    .filter((entry) => entry.flags.length > 0);
  if (flagged.length === 0) return null;
  const collapsible = flagged.length > COLLAPSE_AFTER;
  const shown = collapsible && !showAll ? flagged.slice(0, FIRST_ITEMS) : flagged;
  return (
    <section className="attention" aria-labelledby="attention-heading">
      <h3 id="attention-heading" className="attention-title">
        <svg aria-hidden="true" viewBox="0 0 16 16" width="16" height="16" className="icon">
          <path d="M8 1.5 15 14H1L8 1.5Z" />
          <path d="M8 6v3.5M8 11.5v.5" />
        </svg>
        {plural(flagged.length, "token needs", "tokens need")} attention
      </h3>
      <ul className="attention-list" id={listId}>
        {shown.map(({ token, flags }) => {
          const action = suggestedAction(flags);
          const mine = !token.owner || token.owner.id === meId;
          return (
            <li key={token.id} className="attention-item">
              <div className="attention-text">
                <span className="token-name-text attention-name">{token.name}</span>
                <FlagChips flags={flags} className="attention-flags" />
                <span className="muted attention-why">{explain(token, flags, now)}</span>
              </div>
              <div className="attention-actions">
                {mine && action === "replace" && (
                  <button
                    type="button"
                    className="button button-small button-primary"
                    // The visible words first: voice control finds the button by them.
                    aria-label={`Create replacement for ${token.name}`}
                    onClick={() => onReplace(token)}
                  >
                    Create replacement
                  </button>
                )}
                {mine && action === "regenerate" && (
                  <button
                    type="button"
                    className="button button-small button-primary"
                    aria-label={`Regenerate ${token.name}`}
                    onClick={() => onRegenerate(token)}
                  >
                    Regenerate
                  </button>
                )}
                <button
                  type="button"
                  className={
                    action === "revoke"
                      ? "button button-small button-danger"
                      : "button button-small button-danger-outline"
                  }
                  aria-label={`Revoke ${token.name}`}
                  onClick={() => onRevoke(token)}
                >
                  Revoke
                </button>
              </div>
            </li>
          );
        })}
      </ul>
      {collapsible && (
        <button
          type="button"
          className="button button-small attention-toggle"
          aria-expanded={showAll}
          aria-controls={listId}
          onClick={() => setShowAll((all) => !all)}
        >
          {showAll ? `Show the first ${FIRST_ITEMS}` : `Show all ${flagged.length}`}
        </button>
      )}
    </section>
  );
}
