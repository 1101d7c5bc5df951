import { type FormEvent, useState } from "react";
import { ApiError, api, describeError } from "../api";
import { describedBy, FieldError, FieldHint, FormAlert } from "../components/field";
import { Link, navigate } from "../router";
import { AuthFrame } from "./auth-pages";

const PASSWORD_MIN_LENGTH = 8;

const EXPIRED_LINK = "This link has expired or was already used. Ask for a new one.";

/**
 * The code of an emailed link, from the address's fragment (`#code=…`): a browser never
 * sends the fragment to a server, so the code stays out of logs. It is taken once and
 * removed from the address bar and history.
 */
function useLinkCode(): string {
  const [code] = useState(() => {
    const found = new URLSearchParams(window.location.hash.slice(1)).get("code") ?? "";
    if (found) window.history.replaceState(null, "", window.location.pathname);
    return found;
  });
  return code;
}

export function ForgotPasswordPage() {
  const [email, setEmail] = useState("");
  const [sent, setSent] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(undefined);
    try {
      await api.requestPasswordReset(email);
      setSent(true);
    } catch (e) {
      setError(describeError(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <AuthFrame
      title="Reset your password"
      footer={
        <>
          Remembered it? <Link to="/signin">Sign in</Link>
        </>
      }
    >
      {sent ? (
        <div className="callout callout-info" role="status">
          If an account has the address {email}, we have emailed it a link to set a new password.
          The link works once, within 30 minutes. No email? Check your spam folder, or ask the
          operator of this Keyward for a reset link.
        </div>
      ) : (
        <form className="form" onSubmit={submit}>
          <FormAlert error={error} />
          <div className="field">
            <label htmlFor="forgot-email">Email</label>
            <input
              id="forgot-email"
              name="email"
              type="email"
              autoComplete="username"
              required
              maxLength={254}
              value={email}
              onChange={(e) => setEmail(e.target.value)}
            />
          </div>
          <button type="submit" className="button button-primary button-block" aria-busy={busy}>
            {busy ? "Sending…" : "Email me a reset link"}
          </button>
        </form>
      )}
    </AuthFrame>
  );
}

export function ResetPasswordPage() {
  const code = useLinkCode();
  const [password, setPassword] = useState("");
  const [errors, setErrors] = useState<{ password?: string; form?: string }>({});
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (busy) return;
    if ([...password].length < PASSWORD_MIN_LENGTH) {
      setErrors({ password: `Use at least ${PASSWORD_MIN_LENGTH} characters.` });
      document.getElementById("reset-password")?.focus();
      return;
    }
    setBusy(true);
    setErrors({});
    try {
      await api.confirmPasswordReset({ code, newPassword: password });
      navigate("/signin?passwordReset=1", { replace: true });
    } catch (e) {
      setBusy(false);
      if (e instanceof ApiError && e.code === "weak_password") {
        setErrors({ password: e.message });
        document.getElementById("reset-password")?.focus();
      } else if (e instanceof ApiError && e.code === "link_expired") {
        setErrors({ form: EXPIRED_LINK });
      } else {
        setErrors({ form: describeError(e) });
      }
    }
  }

  return (
    <AuthFrame
      title="Choose a new password"
      footer={<Link to="/forgot-password">Ask for a new link</Link>}
    >
      {code === "" ? (
        <div className="callout callout-danger" role="alert">
          This page opens from the link in a password reset email.{" "}
          <Link to="/forgot-password">Ask for one</Link>.
        </div>
      ) : (
        <form className="form" onSubmit={submit}>
          <FormAlert error={errors.form} />
          <div className="field">
            <label htmlFor="reset-password">New password</label>
            <input
              id="reset-password"
              name="password"
              type="password"
              autoComplete="new-password"
              required
              minLength={PASSWORD_MIN_LENGTH}
              maxLength={256}
              value={password}
              aria-invalid={errors.password ? true : undefined}
              aria-describedby={describedBy("reset-password", true, errors.password)}
              onChange={(e) => setPassword(e.target.value)}
            />
            <FieldHint id="reset-password">
              At least {PASSWORD_MIN_LENGTH} characters. Setting it signs you out everywhere.
            </FieldHint>
            <FieldError id="reset-password" error={errors.password} />
          </div>
          <button type="submit" className="button button-primary button-block" aria-busy={busy}>
            {busy ? "Setting password…" : "Set new password"}
          </button>
        </form>
      )}
    </AuthFrame>
  );
}

export function ConfirmEmailPage() {
  const code = useLinkCode();
  const [state, setState] = useState<"ready" | "busy" | "done">("ready");
  const [error, setError] = useState<string | undefined>();

  // A button, not a confirmation on load: mail scanners that open links must not use it up.
  async function confirm() {
    if (state !== "ready") return;
    setState("busy");
    setError(undefined);
    try {
      await api.confirmEmail(code);
      setState("done");
    } catch (e) {
      setState("ready");
      setError(
        e instanceof ApiError && e.code === "link_expired" ? EXPIRED_LINK : describeError(e),
      );
    }
  }

  return (
    <AuthFrame title="Confirm your email address" footer={<Link to="/apps">Go to Keyward</Link>}>
      {code === "" ? (
        <div className="callout callout-danger" role="alert">
          This page opens from the link in a confirmation email.
        </div>
      ) : state === "done" ? (
        <div className="callout callout-info" role="status">
          Your email address is confirmed. You can now accept invitations to applications.
        </div>
      ) : (
        <>
          <FormAlert error={error} />
          <button
            type="button"
            className="button button-primary button-block"
            aria-busy={state === "busy"}
            onClick={() => void confirm()}
          >
            {state === "busy" ? "Confirming…" : "Confirm my email address"}
          </button>
        </>
      )}
    </AuthFrame>
  );
}
