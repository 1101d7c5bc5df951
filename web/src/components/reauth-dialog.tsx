import { useId, useState } from "react";
import { ApiError, api } from "../api";
import { FieldError } from "./field";
import { Modal } from "./modal";
import { useFieldSubmit } from "./use-field-submit";

/**
 * Asks for the password before a sensitive action the server held back (creating a service
 * key, inviting an admin, changing return origins or branding). On success the held request
 * goes through as it was: nothing the user typed for it is asked again.
 */
export function ReauthenticateDialog({
  email,
  onConfirmed,
  onCancel,
}: {
  email: string;
  onConfirmed: () => void;
  onCancel: () => void;
}) {
  const id = useId();
  const [password, setPassword] = useState("");
  const { busy, error, submit } = useFieldSubmit(
    `${id}-password`,
    async () => {
      await api.reauthenticate(password);
      onConfirmed();
    },
    (e) =>
      e instanceof ApiError && e.code === "invalid_credentials"
        ? "That is not your password."
        : undefined,
  );

  return (
    <Modal title="Confirm your password" onDismiss={onCancel} size="small">
      <form className="form" onSubmit={submit}>
        <p id={`${id}-why`}>
          This action needs your password: it was last entered more than 15 minutes ago. After this,
          sensitive actions go through without asking for 15 minutes.
        </p>
        <input type="email" name="username" autoComplete="username" value={email} readOnly hidden />
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
            aria-invalid={error ? true : undefined}
            aria-describedby={error ? `${id}-password-error ${id}-why` : `${id}-why`}
            onChange={(e) => setPassword(e.target.value)}
          />
          <FieldError id={`${id}-password`} error={error} />
        </div>
        <div className="modal-actions">
          <button type="button" className="button" onClick={onCancel}>
            Cancel
          </button>
          <button type="submit" className="button button-primary" aria-busy={busy}>
            {busy ? "Confirming…" : "Confirm"}
          </button>
        </div>
      </form>
    </Modal>
  );
}
