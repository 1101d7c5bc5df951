import { type FormEvent, useEffect, useRef, useState } from "react";
import { ApiError, api, describeError, type User } from "../api";
import { announceSession } from "../session-channel";

/**
 * The state and submit of a sign-in form, shared by the sign-in page and the dialog that
 * signs in again in place. `passwordId` is the field focused after a refusal. With
 * two-factor authentication on, the server answers the right password with
 * `two_factor_required`: the same form then asks for the code (a second step) and sends
 * email, password and code together.
 */
export function useSignInForm(
  passwordId: string,
  afterSignIn: (user: User) => Promise<void> | void,
  initialEmail = "",
) {
  const [email, setEmail] = useState(initialEmail);
  const [password, setPassword] = useState("");
  const [needsCode, setNeedsCode] = useState(false);
  const [code, setCode] = useState("");
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const codeId = passwordId.replace(/password$/, "code");

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(undefined);
    try {
      const { user } = await api.signIn(
        needsCode ? { email, password, code } : { email, password },
      );
      // Other tabs learn of it, so a page there waiting to sign in again can carry on.
      announceSession({ kind: "signed-in", userId: user.id });
      await afterSignIn(user);
    } catch (e) {
      setBusy(false);
      if (e instanceof ApiError && e.code === "two_factor_required") {
        // The password was right: the second step, in the same form.
        setNeedsCode(true);
        setCode("");
        // Already shown (a code left empty): focus it; else CredentialFields does on mount.
        document.getElementById(codeId)?.focus();
        return;
      }
      if (e instanceof ApiError && e.code === "invalid_two_factor_code") {
        setError("That code is not right, or was already used. Enter the code your app shows now.");
        setCode("");
        document.getElementById(codeId)?.focus();
        return;
      }
      if (e instanceof ApiError && e.code === "invalid_credentials") setNeedsCode(false);
      setError(
        e instanceof ApiError && e.code === "invalid_credentials"
          ? "That email and password don't match an account."
          : describeError(e),
      );
      document.getElementById(passwordId)?.focus();
    }
  }

  return {
    email,
    setEmail,
    password,
    setPassword,
    needsCode,
    code,
    setCode,
    error,
    busy,
    submit,
  };
}

/** The email and password fields of a sign-in form. */
export function CredentialFields({
  idPrefix,
  form,
  focusPassword = false,
}: {
  idPrefix: string;
  form: Pick<
    ReturnType<typeof useSignInForm>,
    "email" | "setEmail" | "password" | "setPassword" | "needsCode" | "code" | "setCode"
  >;
  /** Focus the password when the email is already known (signing in again). */
  focusPassword?: boolean;
}) {
  const codeRef = useRef<HTMLInputElement>(null);
  // The second step appears in place of nothing: the code field takes the focus at once.
  useEffect(() => {
    if (form.needsCode) codeRef.current?.focus();
  }, [form.needsCode]);
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
      {form.needsCode && (
        <div className="field">
          <label htmlFor={`${idPrefix}-code`}>Two-factor code</label>
          <input
            ref={codeRef}
            id={`${idPrefix}-code`}
            name="code"
            type="text"
            inputMode="numeric"
            autoComplete="one-time-code"
            spellCheck={false}
            required
            maxLength={64}
            value={form.code}
            aria-describedby={`${idPrefix}-code-hint`}
            onChange={(e) => form.setCode(e.target.value)}
          />
          <p className="field-hint" id={`${idPrefix}-code-hint`} role="status">
            Two-factor authentication is on for this account. Enter the 6-digit code from your
            authenticator app, or one of your recovery codes.
          </p>
        </div>
      )}
    </>
  );
}
