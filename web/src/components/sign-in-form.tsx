import { type FormEvent, useState } from "react";
import { ApiError, api, describeError, type User } from "../api";
import { announceSession } from "../session-channel";

/**
 * The state and submit of a sign-in form, shared by the sign-in page and the dialog that
 * signs in again in place. `passwordId` is the field focused after a refusal.
 */
export function useSignInForm(
  passwordId: string,
  afterSignIn: (user: User) => Promise<void> | void,
  initialEmail = "",
) {
  const [email, setEmail] = useState(initialEmail);
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(undefined);
    try {
      const { user } = await api.signIn({ email, password });
      // Other tabs learn of it, so a page there waiting to sign in again can carry on.
      announceSession({ kind: "signed-in", userId: user.id });
      await afterSignIn(user);
    } catch (e) {
      setBusy(false);
      setError(
        e instanceof ApiError && e.code === "invalid_credentials"
          ? "That email and password don't match an account."
          : describeError(e),
      );
      document.getElementById(passwordId)?.focus();
    }
  }

  return { email, setEmail, password, setPassword, error, busy, submit };
}

/** The email and password fields of a sign-in form. */
export function CredentialFields({
  idPrefix,
  form,
  focusPassword = false,
}: {
  idPrefix: string;
  form: Pick<ReturnType<typeof useSignInForm>, "email" | "setEmail" | "password" | "setPassword">;
  /** Focus the password when the email is already known (signing in again). */
  focusPassword?: boolean;
}) {
  return (
    <>
      <div className="field">
        <label htmlFor={`${idPrefix}-email`}>Email</label>
        <input
          id={`${idPrefix}-email`}
          name="email"
          type="email"
          autoComplete="username"
          required
          value={form.email}
          onChange={(e) => form.setEmail(e.target.value)}
        />
      </div>
      <div className="field">
        <label htmlFor={`${idPrefix}-password`}>Password</label>
        <input
          id={`${idPrefix}-password`}
          name="password"
          type="password"
          autoComplete="current-password"
          required
          data-autofocus={focusPassword ? true : undefined}
          value={form.password}
          onChange={(e) => form.setPassword(e.target.value)}
        />
      </div>
    </>
  );
}
