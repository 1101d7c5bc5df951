import { useId } from "react";
import { api, type Me } from "../api";
import { FormAlert } from "./field";
import { Modal } from "./modal";
import { CredentialFields, useSignInForm } from "./sign-in-form";
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
  const id = useId();
  const form = useSignInForm(
    `${id}-password`,
    async () => onSignedIn(await api.currentUser()),
    knownEmail,
  );
  const { error, busy, submit } = form;

  return (
    <Modal title="Sign in to continue" onDismiss={onDismiss} size="small">
      <form className="form" onSubmit={submit} aria-describedby={`${id}-ended`}>
        <div className="callout callout-info" role="alert" id={`${id}-ended`}>
          Your session has ended. Sign in again to carry on where you were: this page, and anything
          on it, stays as it is.
        </div>
        <FormAlert error={error} />
        <CredentialFields idPrefix={id} form={form} focusPassword />
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
