import { type FormEvent, useId, useState } from "react";
import { ApiError, api, describeError, type Me } from "../api";
import { announceSession } from "../session-channel";
import { FormAlert } from "./field";
import { Modal } from "./modal";
import "./signin-dialog.css";

/**
 * Signing in again without leaving the page: opened over whatever is on screen (a secret shown
 * once, a half-filled form), which stays as it is underneath.
 */
export function SignInDialog({
  email: knownEmail,
  onSignedIn,
  onDismiss,
}: {
  /** The account the page belongs to: the likely answer, still editable. */
  email: string;
  onSignedIn: (me: Me) => Promise<void>;
  /** "Not now": the page stays, with a notice to sign in later. */
  onDismiss: () => void;
}) {
  const [email, setEmail] = useState(knownEmail);
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const id = useId();

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(undefined);
    try {
      await api.signIn({ email, password });
      const me = await api.currentUser();
      announceSession({ kind: "signed-in", userId: me.user.id });
      await onSignedIn(me);
    } catch (e) {
      setBusy(false);
      setError(
        e instanceof ApiError && e.code === "invalid_credentials"
          ? "That email and password don't match an account."
          : describeError(e),
      );
      document.getElementById(`${id}-password`)?.focus();
    }
  }

  return (
    <Modal title="Sign in to continue" onDismiss={onDismiss} size="small">
      <form className="form" onSubmit={submit} aria-describedby={`${id}-ended`}>
        <div className="callout callout-info" role="alert" id={`${id}-ended`}>
          Your session has ended. Sign in again to carry on where you were: this page, and anything
          on it, stays as it is.
        </div>
        <FormAlert error={error} />
        <div className="field">
          <label htmlFor={`${id}-email`}>Email</label>
          <input
            id={`${id}-email`}
            name="email"
            type="email"
            autoComplete="username"
            required
            value={email}
            onChange={(e) => setEmail(e.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor={`${id}-password`}>Password</label>
          <input
            id={`${id}-password`}
            name="password"
            type="password"
            autoComplete="current-password"
            required
            data-autofocus
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </div>
        <div className="modal-actions">
          <button type="button" className="button" onClick={onDismiss}>
            Not now
          </button>
          <button type="submit" className="button button-primary" aria-busy={busy}>
            {busy ? "Signing in…" : "Sign in"}
          </button>
        </div>
      </form>
    </Modal>
  );
}

/** Shown while the session is over and the sign-in dialog is put away. */
export function SessionEndedNotice({ onSignIn }: { onSignIn: () => void }) {
  return (
    <div className="session-ended callout callout-warning" role="alert">
      <p>Your session has ended. Sign in again to save changes; nothing on this page is lost.</p>
      <button type="button" className="button button-primary button-small" onClick={onSignIn}>
        Sign in again
      </button>
    </div>
  );
}
