import { type ReactNode, useId, useRef, useState } from "react";
import { type ApiToken, api, type IssuedToken } from "../api";
import { formatExact } from "../format";
import { usedRecently } from "../hygiene";
import { LongText } from "./long-text";
import { ConfirmDialog, Modal } from "./modal";
import { RelativeTime } from "./relative-time";
import "./token-dialogs.css";

/** A freshly issued secret and why it was issued. Lives only while the show-once dialog is open. */
export interface Issued extends IssuedToken {
  kind: "created" | "regenerated";
  /** Regenerated only: when the previous secret stops working (ISO), or null when it already has. */
  oldSecretUntil?: string | null;
}

/** Puts text on the clipboard; falls back to a selection copy where the async API is missing (plain HTTP). */
export async function copyText(
  text: string,
  fallbackInput: HTMLInputElement | HTMLTextAreaElement | null,
): Promise<boolean> {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // fall through to the selection copy
  }
  if (!fallbackInput) return false;
  fallbackInput.focus();
  fallbackInput.select();
  try {
    return document.execCommand("copy");
  } catch {
    return false;
  }
}

interface CopyOutcome {
  what: "secret" | "example";
  ok: boolean;
}

/** This server's API, as a client program reaches it: the page's own origin. */
function apiBaseUrl(): string {
  return `${window.location.origin}/api`;
}

/** A ready-to-run request that proves the token works. */
function curlCommand(token: string): string {
  return `curl -H "Authorization: Bearer ${token}" ${apiBaseUrl()}`;
}

export function CopyButton({
  label,
  onClick,
  primary = false,
}: {
  label: string;
  onClick: () => void;
  primary?: boolean;
}) {
  return (
    <button
      type="button"
      className={primary ? "button button-primary" : "button"}
      onClick={onClick}
      aria-label={label === "Copy" ? undefined : label}
    >
      <svg aria-hidden="true" viewBox="0 0 16 16" width="16" height="16" className="icon">
        <rect x="5" y="5" width="9" height="9" rx="1.5" />
        <path d="M11 5V3.5A1.5 1.5 0 0 0 9.5 2h-6A1.5 1.5 0 0 0 2 3.5v6A1.5 1.5 0 0 0 3.5 11H5" />
      </svg>
      Copy
    </button>
  );
}

/** A secret to show once, and the words around it (a token, a service key). */
export interface ShownSecret {
  /** The plaintext, which exists nowhere else. */
  secret: string;
  /** The name the user gave it. */
  name: string;
  /** "token", "service key": how the dialog's words refer to it. */
  noun: string;
  title: string;
  /** Why it is shown only once, and where to keep it. */
  warning: ReactNode;
  /** What a lost secret costs: "regenerate it", "create a new key". */
  replaceBy: string;
  /** A ready-to-run command that uses the secret, with its own Copy button. */
  example?: { label: string; command: string; copyLabel: string; copied: string; hint: ReactNode };
  /** Anything else to say below the secret. */
  note?: ReactNode;
}

/**
 * Shows a new secret once. It cannot be lost by accident: closing before copying it (or
 * ticking that it is saved) asks for confirmation, and Escape does the same. One dialog for
 * every kind of secret, so tokens and service keys get the same protections.
 */
export function ShowSecretDialog({
  shown,
  onClose,
  returnFocus,
}: {
  shown: ShownSecret;
  onClose: () => void;
  returnFocus?: () => HTMLElement | null;
}) {
  const [copied, setCopied] = useState<CopyOutcome | undefined>();
  const [saved, setSaved] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const inputRef = useRef<HTMLTextAreaElement>(null);
  const exampleRef = useRef<HTMLInputElement>(null);
  const keepOpenRef = useRef<HTMLButtonElement>(null);
  const ids = useId();
  const { noun, example } = shown;
  const Noun = noun.charAt(0).toUpperCase() + noun.slice(1);
  // Either copy puts the secret on the clipboard.
  const safe = copied?.ok === true || saved;

  /** Leaves the close question for the secret; the question's buttons go, so focus moves. */
  const backToSecret = () => {
    setConfirming(false);
    queueMicrotask(() => inputRef.current?.focus());
  };

  const requestClose = () => {
    if (safe) onClose();
    else {
      setConfirming(true);
      // The confirmation replaces the content; put focus on its safe choice.
      queueMicrotask(() => keepOpenRef.current?.focus());
    }
  };

  const copy = async (what: CopyOutcome["what"]) => {
    const ok =
      what === "secret"
        ? await copyText(shown.secret, inputRef.current)
        : await copyText(example?.command ?? "", exampleRef.current);
    setCopied({ what, ok });
  };

  return (
    <Modal
      title={confirming ? `Close without saving the ${noun}?` : shown.title}
      onDismiss={() => (confirming ? backToSecret() : requestClose())}
      initialFocus={inputRef}
      returnFocus={returnFocus}
    >
      {confirming ? (
        <div className="stack">
          <p>
            You have not copied{" "}
            <strong>
              <LongText text={shown.name} />
            </strong>{" "}
            and it cannot be shown again. If you close now, you will have to {shown.replaceBy} to
            get a working secret.
          </p>
          <div className="modal-actions">
            <button type="button" className="button" onClick={onClose}>
              Close anyway
            </button>
            <button
              ref={keepOpenRef}
              type="button"
              className="button button-primary"
              onClick={backToSecret}
            >
              Go back to the {noun}
            </button>
          </div>
        </div>
      ) : (
        <div className="stack">
          <div className="callout callout-warning" id={`${ids}-warning`}>
            {shown.warning}
          </div>
          <div className="field">
            {/* The name wraps rather than ends in an ellipsis: on a phone a one-line label
                has room for a few characters, and this is where the user checks which
                secret they are copying. <bdi> keeps right-to-left names in their place. */}
            <label htmlFor={`${ids}-secret`} className="secret-label">
              {Noun} for{" "}
              <bdi className="token-name-text" dir="auto">
                {shown.name}
              </bdi>
            </label>
            <div className="secret-row">
              {/* A wrapping read-only field, not a one-line input: the whole secret is visible
                  at any width, so it can be checked against what was pasted. */}
              <textarea
                ref={inputRef}
                id={`${ids}-secret`}
                className="secret-input secret-text"
                readOnly
                rows={2}
                value={shown.secret}
                spellCheck={false}
                autoComplete="off"
                aria-describedby={`${ids}-warning`}
                onFocus={(e) => e.currentTarget.select()}
              />
              <CopyButton label="Copy" onClick={() => void copy("secret")} primary />
            </div>
          </div>
          {shown.note}
          {example && (
            <div className="field">
              <label htmlFor={`${ids}-example`}>{example.label}</label>
              <div className="secret-row">
                <input
                  ref={exampleRef}
                  id={`${ids}-example`}
                  className="secret-input"
                  readOnly
                  value={example.command}
                  spellCheck={false}
                  autoComplete="off"
                  aria-describedby={`${ids}-usage`}
                  onFocus={(e) => e.currentTarget.select()}
                />
                <CopyButton label={example.copyLabel} onClick={() => void copy("example")} />
              </div>
              <p className="field-hint" id={`${ids}-usage`}>
                {example.hint}
              </p>
            </div>
          )}
          <p className="copy-status" role="status" aria-live="polite">
            {copied?.ok === true &&
              (copied.what === "secret" ? "Copied to clipboard." : example?.copied)}
            {copied?.ok === false &&
              "Could not copy automatically. The text is selected: press Ctrl+C (⌘C on a Mac)."}
          </p>
          <label className="checkbox">
            <input type="checkbox" checked={saved} onChange={(e) => setSaved(e.target.checked)} />I
            have saved this {noun} somewhere safe
          </label>
          <div className="modal-actions">
            <button type="button" className="button button-primary" onClick={requestClose}>
              Done
            </button>
          </div>
        </div>
      )}
    </Modal>
  );
}

/** A new or regenerated API token's secret, shown once. */
export function ShowTokenDialog({
  issued,
  onClose,
  returnFocus,
}: {
  issued: Issued;
  onClose: () => void;
  returnFocus?: () => HTMLElement | null;
}) {
  const shown: ShownSecret = {
    secret: issued.token,
    name: issued.apiToken.name,
    noun: "token",
    title: issued.kind === "created" ? "Copy your new API token" : "Copy your regenerated token",
    warning: (
      <>
        <strong>Copy it now: this token will not be shown again.</strong> Keyward keeps only a
        one-way hash of it. Store it in your secret manager or CI settings.
      </>
    ),
    replaceBy: "regenerate it",
    example: {
      label: "Try it: a request to this server with curl",
      command: curlCommand(issued.token),
      copyLabel: "Copy curl command",
      copied: "Curl command copied to clipboard.",
      hint: (
        <>
          Programs send the token as <code>Authorization: Bearer &lt;token&gt;</code>; the API is at{" "}
          <code>{apiBaseUrl()}</code>.
        </>
      ),
    },
    note:
      issued.kind === "regenerated" ? (
        <p className="muted">
          {issued.oldSecretUntil
            ? `The previous secret keeps working until ${formatExact(issued.oldSecretUntil)}. Update your clients before then.`
            : "The previous secret has stopped working."}
        </p>
      ) : undefined,
  };
  return <ShowSecretDialog shown={shown} onClose={onClose} returnFocus={returnFocus} />;
}

/** Confirms a revocation; warns when the token was used recently, since something may depend on it. */
export function RevokeDialog({
  appId,
  token,
  now,
  meId,
  onCancel,
  onRevoked,
  returnFocus,
}: {
  appId: string;
  token: ApiToken;
  now: number;
  meId: string;
  onCancel: () => void;
  onRevoked: (token: ApiToken) => void;
  returnFocus?: () => HTMLElement | null;
}) {
  const recent = usedRecently(token, now);
  const someoneElse = token.owner && token.owner.id !== meId ? token.owner : undefined;

  const revoke = async () => {
    await api.revokeToken(appId, token.id);
    const fresh = await api.getToken(appId, token.id).catch(() => ({
      ...token,
      status: "revoked" as const,
      revokedAt: new Date().toISOString(),
    }));
    onRevoked({ ...fresh, ...(token.owner ? { owner: token.owner } : {}) });
  };

  return (
    <ConfirmDialog
      title={
        <>
          Revoke <span className="token-name-text">“{token.name}”</span>?
        </>
      }
      confirmLabel="Revoke"
      onConfirm={revoke}
      onCancel={onCancel}
      tone="danger"
      returnFocus={returnFocus}
    >
      <p>
        Anything using this token is refused from its next request. This cannot be undone; you would
        create a new token instead.
      </p>
      {recent && token.lastUsedAt && (
        <div className="callout callout-warning">
          <strong>This token is in use.</strong> It was last used{" "}
          <RelativeTime iso={token.lastUsedAt} now={now} />. Something may still depend on it.
        </div>
      )}
      {someoneElse && (
        <p className="muted">
          It belongs to <LongText text={someoneElse.email} />.
        </p>
      )}
    </ConfirmDialog>
  );
}

const GRACE_CHOICES = [
  { seconds: 0, label: "None", hint: "The current secret stops working now." },
  { seconds: 3600, label: "1 hour", hint: "Both secrets work for an hour." },
  { seconds: 86_400, label: "24 hours", hint: "Both secrets work for a day." },
] as const;

/** Chooses how long the old secret keeps working, then issues the new one. */
export function RegenerateDialog({
  appId,
  token,
  onCancel,
  onIssued,
}: {
  appId: string;
  token: ApiToken;
  onCancel: () => void;
  onIssued: (issued: Issued) => void;
}) {
  const [grace, setGrace] = useState(0);
  const ids = useId();

  const regenerate = async () => {
    const response = await api.regenerateToken(appId, token.id, grace);
    onIssued({
      ...response,
      kind: "regenerated",
      oldSecretUntil: grace > 0 ? new Date(Date.now() + grace * 1000).toISOString() : null,
    });
  };

  return (
    <ConfirmDialog
      title={
        <>
          Regenerate <span className="token-name-text">“{token.name}”</span>?
        </>
      }
      confirmLabel="Regenerate token"
      onConfirm={regenerate}
      onCancel={onCancel}
    >
      <p>
        You get a new secret for the same token: its name, scopes and expiry stay. Use this to
        rotate a token or replace one that may have leaked.
      </p>
      <fieldset className="fieldset">
        <legend>Keep the old secret working for</legend>
        <div className="radio-group">
          {GRACE_CHOICES.map((choice, i) => (
            <label key={choice.seconds} className="radio-card">
              <input
                type="radio"
                name={`${ids}-grace`}
                value={choice.seconds}
                checked={grace === choice.seconds}
                onChange={() => setGrace(choice.seconds)}
                aria-describedby={`${ids}-grace-${i}`}
                data-autofocus={grace === choice.seconds ? true : undefined}
              />
              <span className="radio-label">{choice.label}</span>
              <span className="radio-hint" id={`${ids}-grace-${i}`}>
                {choice.hint}
              </span>
            </label>
          ))}
        </div>
      </fieldset>
      {grace === 0 && <p className="muted">Choose none if the secret may have leaked.</p>}
    </ConfirmDialog>
  );
}
