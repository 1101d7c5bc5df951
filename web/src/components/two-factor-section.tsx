import { toDataURL } from "qrcode";
import { useCallback, useEffect, useId, useRef, useState } from "react";
import { ApiError, api, describeError } from "../api";
import { describedBy, FieldError, FieldHint } from "./field";
import { CopyButton, copyText } from "./token-dialogs";
import { useFieldSubmit } from "./use-field-submit";
import "./two-factor-section.css";

type Status = Awaited<ReturnType<typeof api.twoFactorStatus>>;
type Enrollment = Awaited<ReturnType<typeof api.startTwoFactor>>;

/** What the section shows: the state on the server, or a step of setting it up. */
type View =
  | { step: "status" }
  | { step: "enrolling"; enrollment: Enrollment }
  | { step: "recovery"; codes: string[] }
  | { step: "disabling" };

/** The secret in groups of four, as apps that take it by hand print it. */
function groupSecret(secret: string): string {
  return secret.match(/.{1,4}/g)?.join(" ") ?? secret;
}

/**
 * The Security page's two-factor section: set up an authenticator app (a QR code drawn here,
 * from the otpauth:// URL, by the `qrcode` library: the secret never leaves for a QR
 * service), confirm it with a code, keep the recovery codes (shown once), and turn it off.
 */
export function TwoFactorSection({ email }: { email: string }) {
  const id = useId();
  const [status, setStatus] = useState<Status | undefined>();
  const [loadError, setLoadError] = useState<string | undefined>();
  const [view, setView] = useState<View>({ step: "status" });
  const [announcement, setAnnouncement] = useState("");
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);

  const load = useCallback(async () => {
    try {
      setStatus(await api.twoFactorStatus());
      setLoadError(undefined);
    } catch (e) {
      setLoadError(describeError(e));
    }
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  async function start() {
    if (busy) return;
    setBusy(true);
    setError(undefined);
    try {
      setView({ step: "enrolling", enrollment: await api.startTwoFactor() });
    } catch (e) {
      setError(describeError(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="section" aria-labelledby={`${id}-heading`}>
      <div className="section-header">
        <div>
          <h2 id={`${id}-heading`}>Two-factor authentication</h2>
          <p className="section-lede">
            With it on, signing in needs a 6-digit code from an authenticator app on your phone as
            well as your password.
          </p>
        </div>
      </div>
      <div className="card two-factor">
        {loadError && (
          <div className="callout callout-danger" role="alert">
            {loadError}
          </div>
        )}
        {!status && !loadError && (
          <p className="loading" role="status">
            Loading…
          </p>
        )}
        {error && (
          <div className="callout callout-danger" role="alert">
            {error}
          </div>
        )}
        {status && view.step === "status" && (
          <div className="stack">
            {status.enabled ? (
              <>
                <p>
                  <span className="badge badge-active">On</span> Signing in asks for a code from
                  your authenticator app.{" "}
                  {status.recoveryCodesLeft === 1
                    ? "1 recovery code left."
                    : `${status.recoveryCodesLeft} recovery codes left.`}
                </p>
                <div>
                  <button
                    type="button"
                    className="button button-danger-outline"
                    onClick={() => setView({ step: "disabling" })}
                  >
                    Turn off two-factor authentication
                  </button>
                </div>
              </>
            ) : (
              <>
                <p>
                  <span className="badge">Off</span> Your password alone signs in.
                </p>
                <div>
                  <button
                    type="button"
                    className="button button-primary"
                    aria-busy={busy}
                    onClick={() => void start()}
                  >
                    Set up two-factor authentication
                  </button>
                </div>
              </>
            )}
          </div>
        )}
        {view.step === "enrolling" && (
          <Enroll
            email={email}
            enrollment={view.enrollment}
            onCancel={() => setView({ step: "status" })}
            onConfirmed={(codes) => {
              setView({ step: "recovery", codes });
              setAnnouncement("Two-factor authentication is on. Save your recovery codes.");
            }}
          />
        )}
        {view.step === "recovery" && (
          <RecoveryCodes
            codes={view.codes}
            onDone={async () => {
              setView({ step: "status" });
              await load();
            }}
          />
        )}
        {view.step === "disabling" && (
          <Disable
            email={email}
            onCancel={() => setView({ step: "status" })}
            onDisabled={async () => {
              setView({ step: "status" });
              setAnnouncement("Two-factor authentication is off.");
              await load();
            }}
          />
        )}
      </div>
      <p className="sr-only" role="status" aria-live="polite">
        {announcement}
      </p>
    </section>
  );
}

function Enroll({
  email,
  enrollment,
  onCancel,
  onConfirmed,
}: {
  email: string;
  enrollment: Enrollment;
  onCancel: () => void;
  onConfirmed: (codes: string[]) => void;
}) {
  const id = useId();
  const [qr, setQr] = useState<string | undefined>();
  const [code, setCode] = useState("");
  const { busy, error, submit } = useFieldSubmit(
    `${id}-code`,
    async () => {
      const { recoveryCodes } = await api.confirmTwoFactor(code);
      onConfirmed(recoveryCodes);
    },
    (e) =>
      e instanceof ApiError && e.code === "invalid_two_factor_code"
        ? "That code is not right. Enter the code your app shows now."
        : undefined,
  );

  useEffect(() => {
    let current = true;
    toDataURL(enrollment.otpauthUrl, { errorCorrectionLevel: "M", margin: 2, width: 200 }).then(
      (url) => {
        if (current) setQr(url);
      },
      () => {
        // Without a QR code the secret below is still there to type in.
        if (current) setQr(undefined);
      },
    );
    return () => {
      current = false;
    };
  }, [enrollment.otpauthUrl]);

  return (
    <form className="form two-factor-enroll" onSubmit={submit}>
      <input type="email" name="username" autoComplete="username" value={email} readOnly hidden />
      <ol className="two-factor-steps">
        <li>
          <p>
            Scan this QR code with an authenticator app (such as a password manager, Google
            Authenticator, Microsoft Authenticator or Aegis).
          </p>
          <div className="two-factor-qr">
            {qr ? (
              <img
                src={qr}
                width={200}
                height={200}
                alt="QR code to add this account to your app"
              />
            ) : (
              <span className="loading">Drawing the QR code…</span>
            )}
          </div>
        </li>
        <li>
          <p id={`${id}-secret-hint`}>Or type this key into the app by hand:</p>
          <code className="two-factor-secret" data-secret aria-describedby={`${id}-secret-hint`}>
            {groupSecret(enrollment.secret)}
          </code>
        </li>
        <li>
          <div className="field">
            <label htmlFor={`${id}-code`}>Code from the app</label>
            <input
              id={`${id}-code`}
              name="code"
              type="text"
              inputMode="numeric"
              autoComplete="one-time-code"
              spellCheck={false}
              required
              maxLength={64}
              value={code}
              aria-invalid={error ? true : undefined}
              aria-describedby={describedBy(`${id}-code`, true, error)}
              onChange={(e) => setCode(e.target.value)}
            />
            <FieldHint id={`${id}-code`}>
              The 6 digits the app shows for Keyward now. Two-factor stays off until this code is
              confirmed.
            </FieldHint>
            <FieldError id={`${id}-code`} error={error} />
          </div>
        </li>
      </ol>
      <div className="two-factor-actions">
        <button type="button" className="button" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" className="button button-primary" aria-busy={busy}>
          {busy ? "Turning on…" : "Turn on"}
        </button>
      </div>
    </form>
  );
}

function RecoveryCodes({ codes, onDone }: { codes: string[]; onDone: () => Promise<void> }) {
  const id = useId();
  const textRef = useRef<HTMLTextAreaElement>(null);
  const [copied, setCopied] = useState<boolean | undefined>();
  const [saved, setSaved] = useState(false);
  const text = `Keyward recovery codes\n\nEach code signs in once, in place of a code from your authenticator app.\n\n${codes.join("\n")}\n`;

  function download() {
    const url = URL.createObjectURL(new Blob([text], { type: "text/plain;charset=utf-8" }));
    const link = document.createElement("a");
    link.href = url;
    link.download = "keyward-recovery-codes.txt";
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
    setSaved(true);
  }

  return (
    <div className="stack two-factor-recovery">
      <div className="callout callout-warning" id={`${id}-warning`}>
        Two-factor authentication is on. Save these recovery codes now: they are shown only this
        once. Each one signs you in once if you lose your phone.
      </div>
      <textarea
        ref={textRef}
        className="recovery-codes"
        aria-label="Recovery codes"
        aria-describedby={`${id}-warning`}
        readOnly
        rows={codes.length}
        spellCheck={false}
        value={codes.join("\n")}
        onFocus={(e) => e.currentTarget.select()}
      />
      <div className="two-factor-actions">
        <CopyButton
          label="Copy"
          primary
          onClick={() => {
            void copyText(text, textRef.current).then((ok) => {
              setCopied(ok);
              if (ok) setSaved(true);
            });
          }}
        />
        <button type="button" className="button" onClick={download}>
          Download as a text file
        </button>
      </div>
      <p className="copy-status" role="status" aria-live="polite">
        {copied === true && "Copied to clipboard."}
        {copied === false &&
          "Could not copy automatically. The codes are selected: press Ctrl+C (⌘C on a Mac)."}
      </p>
      <label className="checkbox">
        <input type="checkbox" checked={saved} onChange={(e) => setSaved(e.target.checked)} />I have
        saved these codes somewhere safe
      </label>
      <div>
        <button
          type="button"
          className="button button-primary"
          disabled={!saved}
          onClick={() => void onDone()}
        >
          Done
        </button>
      </div>
    </div>
  );
}

function Disable({
  email,
  onCancel,
  onDisabled,
}: {
  email: string;
  onCancel: () => void;
  onDisabled: () => Promise<void>;
}) {
  const id = useId();
  const [code, setCode] = useState("");
  const { busy, error, submit } = useFieldSubmit(
    `${id}-code`,
    async () => {
      // Held back without a recent password: the reauthentication dialog asks for it, and
      // this request then goes again as it was.
      await api.disableTwoFactor(code);
      await onDisabled();
    },
    (e) =>
      e instanceof ApiError && e.code === "invalid_two_factor_code"
        ? "That code is not right, or was already used."
        : undefined,
  );

  return (
    <form className="form two-factor-disable" onSubmit={submit}>
      <input type="email" name="username" autoComplete="username" value={email} readOnly hidden />
      <div className="field">
        <label htmlFor={`${id}-code`}>Code from your app, or a recovery code</label>
        <input
          id={`${id}-code`}
          name="code"
          type="text"
          autoComplete="one-time-code"
          spellCheck={false}
          required
          data-autofocus
          maxLength={64}
          value={code}
          aria-invalid={error ? true : undefined}
          aria-describedby={describedBy(`${id}-code`, true, error)}
          onChange={(e) => setCode(e.target.value)}
        />
        <FieldHint id={`${id}-code`}>
          Turning it off deletes the key and the recovery codes. Your password may be asked for
          first.
        </FieldHint>
        <FieldError id={`${id}-code`} error={error} />
      </div>
      <div className="two-factor-actions">
        <button type="button" className="button" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" className="button button-danger" aria-busy={busy}>
          {busy ? "Turning off…" : "Turn off"}
        </button>
      </div>
    </form>
  );
}
