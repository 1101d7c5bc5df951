import { type FormEvent, useCallback, useEffect, useId, useState } from "react";
import { ApiError, api, describeError, type Session } from "../api";
import { usePageHeading } from "../components/brand";
import { describedBy, FieldError, FieldHint, FormAlert } from "../components/field";
import { AppShell } from "../components/layout";
import { ConfirmDialog } from "../components/modal";
import { RelativeTime } from "../components/relative-time";
import { TwoFactorSection } from "../components/two-factor-section";
import { useNow } from "../components/use-now";
import { paths } from "../router";
import { useSession } from "../session";
import { describeUserAgent } from "../user-agent";
import "./security-page.css";

/** The account's own security: where it is signed in, its password and second factor. */
export function SecurityPage() {
  const heading = usePageHeading("Security");
  const { me } = useSession();
  return (
    <AppShell
      crumbs={[
        { label: "Applications", to: paths.apps() },
        { label: "Security", to: paths.security() },
      ]}
    >
      <div className="page-header">
        <div>
          <p className="eyebrow">Your account</p>
          <h1 ref={heading} tabIndex={-1}>
            Security
          </h1>
        </div>
      </div>
      <SessionsSection />
      <PasswordSection />
      {/* A host user's portal session has no password, so no second factor either. */}
      {me.portal === undefined && <TwoFactorSection email={me.user.email} />}
    </AppShell>
  );
}

function SessionsSection() {
  const [sessions, setSessions] = useState<Session[] | undefined>();
  const [loadError, setLoadError] = useState<string | undefined>();
  const [ending, setEnding] = useState<Session | "others" | undefined>();
  const [announcement, setAnnouncement] = useState("");
  const now = useNow();

  const load = useCallback(async () => {
    try {
      const answer = await api.listSessions();
      // This session first, then the others as the server orders them (most recent use).
      setSessions([...answer.sessions].sort((a, b) => Number(b.current) - Number(a.current)));
      setLoadError(undefined);
    } catch (e) {
      setLoadError(describeError(e));
    }
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  const others = sessions?.filter((s) => !s.current) ?? [];

  return (
    <section className="section" aria-labelledby="sessions-heading">
      <div className="section-header">
        <div>
          <h2 id="sessions-heading">Sessions</h2>
          <p className="section-lede">
            Where your account is signed in. Sign out any session you don’t recognise, then change
            your password. A session unused for a day ends by itself.
          </p>
        </div>
        {others.length > 0 && (
          <button
            type="button"
            className="button button-danger-outline"
            onClick={() => setEnding("others")}
          >
            Sign out of all other sessions
          </button>
        )}
      </div>
      <div className="card card-flush">
        {loadError && (
          <div className="callout callout-danger card-callout" role="alert">
            {loadError}
          </div>
        )}
        {!sessions && !loadError && (
          <p className="loading card-pad" role="status">
            Loading sessions…
          </p>
        )}
        {sessions && (
          <div className="table-wrap">
            <table className="table grid-table sessions-table" aria-labelledby="sessions-heading">
              <thead>
                <tr>
                  <th scope="col">Device</th>
                  <th scope="col">Address</th>
                  <th scope="col">Last seen</th>
                  <th scope="col">Signed in</th>
                  <th scope="col">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {sessions.map((session) => {
                  const device = describeUserAgent(session.userAgent);
                  return (
                    <tr key={session.id} data-session-id={session.id}>
                      <th scope="row" className="cell-name">
                        <span className="session-device" title={session.userAgent ?? undefined}>
                          {device}
                        </span>
                        {session.current && (
                          <span className="badge badge-active badge-current">This session</span>
                        )}
                      </th>
                      <td data-label="Address">{session.address ?? "Unknown"}</td>
                      <td data-label="Last seen">
                        {session.current ? (
                          "Now"
                        ) : (
                          <RelativeTime iso={session.lastSeenAt} now={now} />
                        )}
                      </td>
                      <td data-label="Signed in">
                        <RelativeTime iso={session.createdAt} now={now} />
                      </td>
                      <td className="cell-actions">
                        {!session.current && (
                          <button
                            type="button"
                            className="button button-small button-danger-outline"
                            aria-label={`Sign out ${device}, ${session.address ?? "unknown address"}`}
                            onClick={() => setEnding(session)}
                          >
                            Sign out
                          </button>
                        )}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </div>
      <p className="sr-only" role="status" aria-live="polite">
        {announcement}
      </p>
      {ending === "others" && (
        <ConfirmDialog
          title="Sign out of all other sessions?"
          confirmLabel="Sign out others"
          tone="danger"
          onCancel={() => setEnding(undefined)}
          onConfirm={async () => {
            await api.endOtherSessions();
            setEnding(undefined);
            setAnnouncement("Every other session was signed out.");
            await load();
          }}
        >
          <p>Every browser signed in to your account except this one is signed out at once.</p>
        </ConfirmDialog>
      )}
      {ending !== undefined && ending !== "others" && (
        <ConfirmDialog
          title="Sign out this session?"
          confirmLabel="Sign out"
          tone="danger"
          onCancel={() => setEnding(undefined)}
          onConfirm={async () => {
            try {
              await api.endSession(ending.id);
            } catch (e) {
              // Already gone (it expired, or was signed out elsewhere): the list says so.
              if (!(e instanceof ApiError && e.status === 404)) throw e;
            }
            setEnding(undefined);
            setAnnouncement(`${describeUserAgent(ending.userAgent)} was signed out.`);
            await load();
          }}
        >
          <p>
            {describeUserAgent(ending.userAgent)} at {ending.address ?? "an unknown address"} is
            signed out at once.
          </p>
        </ConfirmDialog>
      )}
    </section>
  );
}

function PasswordSection() {
  const { me } = useSession();
  const id = useId();
  const [currentPassword, setCurrentPassword] = useState("");
  const [newPassword, setNewPassword] = useState("");
  const [currentError, setCurrentError] = useState<string | undefined>();
  const [newError, setNewError] = useState<string | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [done, setDone] = useState(false);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(undefined);
    setCurrentError(undefined);
    setNewError(undefined);
    setDone(false);
    try {
      await api.changePassword({ currentPassword, newPassword });
      setCurrentPassword("");
      setNewPassword("");
      setDone(true);
    } catch (e) {
      if (e instanceof ApiError && e.code === "invalid_credentials") {
        setCurrentError("That is not your current password.");
        document.getElementById(`${id}-current`)?.focus();
      } else if (e instanceof ApiError && (e.code === "weak_password" || e.status === 400)) {
        setNewError(e.detail);
        document.getElementById(`${id}-new`)?.focus();
      } else {
        setError(describeError(e));
      }
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="section" aria-labelledby={`${id}-heading`}>
      <div className="section-header">
        <div>
          <h2 id={`${id}-heading`}>Password</h2>
          <p className="section-lede">
            Changing it signs out every other session; this one stays signed in.
          </p>
        </div>
      </div>
      <div className="card">
        <form className="form password-form" onSubmit={submit}>
          {/* For password managers: which account this password belongs to. */}
          <input
            type="email"
            name="username"
            autoComplete="username"
            value={me.user.email}
            readOnly
            hidden
          />
          <FormAlert error={error} />
          {done && (
            <div className="callout callout-info" role="status">
              Password changed. Every other session was signed out.
            </div>
          )}
          <div className="field">
            <label htmlFor={`${id}-current`}>Current password</label>
            <input
              id={`${id}-current`}
              type="password"
              autoComplete="current-password"
              required
              value={currentPassword}
              aria-invalid={currentError ? true : undefined}
              aria-describedby={describedBy(`${id}-current`, false, currentError)}
              onChange={(e) => setCurrentPassword(e.target.value)}
            />
            <FieldError id={`${id}-current`} error={currentError} />
          </div>
          <div className="field">
            <label htmlFor={`${id}-new`}>New password</label>
            <input
              id={`${id}-new`}
              type="password"
              autoComplete="new-password"
              required
              minLength={8}
              value={newPassword}
              aria-invalid={newError ? true : undefined}
              aria-describedby={describedBy(`${id}-new`, true, newError)}
              onChange={(e) => setNewPassword(e.target.value)}
            />
            <FieldHint id={`${id}-new`}>
              At least 8 characters. A long phrase is best; common passwords are refused.
            </FieldHint>
            <FieldError id={`${id}-new`} error={newError} />
          </div>
          <div>
            <button type="submit" className="button button-primary" aria-busy={busy}>
              {busy ? "Changing…" : "Change password"}
            </button>
          </div>
        </form>
      </div>
    </section>
  );
}
