import { type FormEvent, type ReactNode, useState } from "react";
import { ApiError, api, describeError } from "../api";
import { Brand, usePageHeading } from "../components/brand";
import { describedBy, FieldError, FieldHint, FormAlert } from "../components/field";
import { CredentialFields, useSignInForm } from "../components/sign-in-form";
import { Link, navigate, safeNextPath, useLocation } from "../router";
import "./auth-pages.css";

const PASSWORD_MIN_LENGTH = 8;

export function AuthFrame({
  title,
  children,
  footer,
}: {
  title: string;
  children: ReactNode;
  footer: ReactNode;
}) {
  const heading = usePageHeading(title);
  return (
    <main className="auth" id="main">
      <div className="auth-card">
        <div className="auth-brand">
          <Brand />
        </div>
        <h1 ref={heading} tabIndex={-1} className="auth-title">
          {title}
        </h1>
        {children}
      </div>
      <p className="auth-footer">{footer}</p>
    </main>
  );
}

export function SignUpPage() {
  const location = useLocation();
  const next = safeNextPath(location.searchParams.get("next"));
  const [name, setName] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [errors, setErrors] = useState<{ email?: string; password?: string; form?: string }>({});
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (busy) return;
    if ([...password].length < PASSWORD_MIN_LENGTH) {
      setErrors({ password: `Use at least ${PASSWORD_MIN_LENGTH} characters.` });
      document.getElementById("signup-password")?.focus();
      return;
    }
    setBusy(true);
    setErrors({});
    try {
      await api.signUp({ name, email, password });
      navigate(next ?? "/apps", { replace: true });
    } catch (e) {
      setBusy(false);
      if (e instanceof ApiError && e.code === "email_taken") {
        setErrors({ email: "An account with this email already exists. Sign in instead?" });
        document.getElementById("signup-email")?.focus();
      } else {
        setErrors({ form: describeError(e) });
      }
    }
  }

  return (
    <AuthFrame
      title="Create your account"
      footer={
        <>
          Already have an account?{" "}
          <Link to={next ? `/signin?next=${encodeURIComponent(next)}` : "/signin"}>Sign in</Link>
        </>
      }
    >
      <form className="form" onSubmit={submit}>
        <FormAlert error={errors.form} />
        <div className="field">
          <label htmlFor="signup-name">Name</label>
          <input
            id="signup-name"
            name="name"
            autoComplete="name"
            required
            maxLength={100}
            value={name}
            onChange={(e) => setName(e.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor="signup-email">Email</label>
          <input
            id="signup-email"
            name="email"
            type="email"
            autoComplete="email"
            required
            maxLength={254}
            value={email}
            aria-invalid={errors.email ? true : undefined}
            aria-describedby={describedBy("signup-email", false, errors.email)}
            onChange={(e) => setEmail(e.target.value)}
          />
          <FieldError id="signup-email" error={errors.email} />
        </div>
        <div className="field">
          <label htmlFor="signup-password">Password</label>
          <input
            id="signup-password"
            name="password"
            type="password"
            autoComplete="new-password"
            required
            minLength={PASSWORD_MIN_LENGTH}
            maxLength={256}
            value={password}
            aria-invalid={errors.password ? true : undefined}
            aria-describedby={describedBy("signup-password", true, errors.password)}
            onChange={(e) => setPassword(e.target.value)}
          />
          <FieldHint id="signup-password">
            At least {PASSWORD_MIN_LENGTH} characters. A passphrase is best.
          </FieldHint>
          <FieldError id="signup-password" error={errors.password} />
        </div>
        <button type="submit" className="button button-primary button-block" aria-busy={busy}>
          {busy ? "Creating account…" : "Create account"}
        </button>
      </form>
    </AuthFrame>
  );
}

export function SignInPage() {
  const location = useLocation();
  const next = safeNextPath(location.searchParams.get("next"));
  const signedOut = location.searchParams.get("signedOut") === "1";
  const passwordReset = location.searchParams.get("passwordReset") === "1";
  const form = useSignInForm("signin-password", () => navigate(next ?? "/apps", { replace: true }));
  const { error, busy, submit } = form;

  return (
    <AuthFrame
      title="Sign in to Keyward"
      footer={
        <>
          New here?{" "}
          <Link to={next ? `/signup?next=${encodeURIComponent(next)}` : "/signup"}>
            Create an account
          </Link>
        </>
      }
    >
      {signedOut && !error && !form.needsCode && (
        <div className="callout callout-info" role="status">
          You have signed out.
        </div>
      )}
      {passwordReset && !error && (
        <div className="callout callout-info" role="status">
          Your password is set, and every session has ended. Sign in with the new password.
        </div>
      )}
      <form className="form" onSubmit={submit}>
        <FormAlert error={error} />
        <CredentialFields idPrefix="signin" form={form} />
        <button type="submit" className="button button-primary button-block" aria-busy={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
      <p className="auth-aside">
        <Link to="/forgot-password">Forgot password?</Link>
      </p>
    </AuthFrame>
  );
}
