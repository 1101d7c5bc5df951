import { type FormEvent, useEffect, useState } from "react";
import {
  ApiError,
  type ApplicationSummary,
  api,
  describeError,
  type ReceivedInvitation,
} from "../api";
import { AccountActivitySection } from "../components/activity";
import { usePageHeading } from "../components/brand";
import { describedBy, FieldError, FieldHint } from "../components/field";
import { AppShell } from "../components/layout";
import { roleLabels } from "../format";
import { Link, navigate, paths } from "../router";
import "./apps-page.css";

/** "read, write deploy" → ["read", "write", "deploy"]. */
function parseScopes(text: string): string[] {
  return [...new Set(text.split(/[\s,]+/).filter(Boolean))];
}

export function AppsPage() {
  const heading = usePageHeading("Applications");
  const [apps, setApps] = useState<ApplicationSummary[] | undefined>();
  const [loadError, setLoadError] = useState<string | undefined>();
  const [invitations, setInvitations] = useState<ReceivedInvitation[]>([]);
  const [invitationError, setInvitationError] = useState<string | undefined>();
  const [confirmation, setConfirmation] = useState<
    { email: string; sent: boolean; error?: string } | undefined
  >();

  useEffect(() => {
    api
      .me()
      .then((me) => {
        if (me.emailConfirmationPending) setConfirmation({ email: me.user.email, sent: false });
      })
      .catch(() => {});
    api
      .listApplications()
      .then((res) => setApps(res.applications))
      .catch((e: unknown) => setLoadError(describeError(e)));
    api
      .myInvitations()
      .then((res) => setInvitations(res.invitations))
      .catch((e: unknown) => setInvitationError(describeError(e)));
  }, []);

  async function resendConfirmation() {
    if (!confirmation) return;
    try {
      await api.resendEmailConfirmation();
      setConfirmation({ ...confirmation, sent: true });
    } catch (e) {
      setConfirmation({ ...confirmation, error: describeError(e) });
    }
  }

  async function answer(invitation: ReceivedInvitation, accept: boolean) {
    setInvitationError(undefined);
    try {
      if (accept) {
        const joined = await api.acceptInvitation(invitation.id);
        setApps((prev) => [...(prev ?? []), joined]);
      } else {
        await api.declineInvitation(invitation.id);
      }
      setInvitations((prev) => prev.filter((i) => i.id !== invitation.id));
    } catch (e) {
      setInvitationError(describeError(e));
    }
  }

  return (
    <AppShell crumbs={[{ label: "Applications" }]}>
      <div className="page-header">
        <div>
          <h1 ref={heading} tabIndex={-1}>
            Applications
          </h1>
          <p className="page-lede">
            Each application has its own tokens and members. Open one to manage your API tokens.
          </p>
        </div>
      </div>

      {confirmation && (
        <div className="callout callout-info" role="status">
          Confirm your email address: open the link we sent to {confirmation.email}. Until then you
          cannot accept invitations.{" "}
          {confirmation.sent ? (
            "A new link is on its way."
          ) : (
            <button
              type="button"
              className="button button-small"
              onClick={() => void resendConfirmation()}
            >
              Send a new link
            </button>
          )}
          {confirmation.error && <span role="alert"> {confirmation.error}</span>}
        </div>
      )}

      {(invitations.length > 0 || invitationError) && (
        <section className="card invitations" aria-labelledby="invitations-heading">
          <h2 id="invitations-heading" className="card-title">
            Invitations
          </h2>
          {invitationError && (
            <div className="callout callout-danger" role="alert">
              {invitationError}
            </div>
          )}
          <ul className="invitation-list">
            {invitations.map((invitation) => (
              <li key={invitation.id} className="invitation">
                <p>
                  <bdi className="invitation-app">{invitation.applicationName}</bdi>:{" "}
                  {invitation.inviterEmail} invited you as{" "}
                  {roleLabels[invitation.role].toLowerCase()}.
                </p>
                <div className="invitation-actions">
                  <button
                    type="button"
                    className="button button-primary button-small"
                    aria-label={`Accept the invitation to ${invitation.applicationName}`}
                    onClick={() => void answer(invitation, true)}
                  >
                    Accept
                  </button>
                  <button
                    type="button"
                    className="button button-small"
                    aria-label={`Decline the invitation to ${invitation.applicationName}`}
                    onClick={() => void answer(invitation, false)}
                  >
                    Decline
                  </button>
                </div>
              </li>
            ))}
          </ul>
        </section>
      )}

      <div className="grid-2">
        <section className="card" aria-labelledby="apps-list-heading">
          <h2 id="apps-list-heading" className="card-title">
            Your applications
          </h2>
          {loadError && (
            <div className="callout callout-danger" role="alert">
              {loadError}
            </div>
          )}
          {!apps && !loadError && (
            <p className="loading" role="status">
              Loading applications…
            </p>
          )}
          {apps && apps.length === 0 && (
            <div className="empty">
              <p className="empty-title">No applications yet</p>
              <p>Create your first application to start issuing API tokens.</p>
            </div>
          )}
          {apps && apps.length > 0 && (
            <ul className="app-list">
              {apps.map((app) => (
                <li key={app.id} className="app-item">
                  <Link to={paths.account(app.id)} className="app-link">
                    <span className="app-name">{app.name}</span>
                    <span className="app-id mono">{app.id}</span>
                  </Link>
                  <span className={`badge badge-role badge-${app.role}`}>
                    {roleLabels[app.role]}
                  </span>
                </li>
              ))}
            </ul>
          )}
        </section>
        <CreateApplicationForm />
      </div>
      <AccountActivitySection />
    </AppShell>
  );
}

function CreateApplicationForm() {
  const [name, setName] = useState("");
  const [scopes, setScopes] = useState("");
  const [errors, setErrors] = useState<{ name?: string; scopes?: string }>({});
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (busy) return;
    if (!name.trim()) {
      setErrors({ name: "Enter a name for the application." });
      document.getElementById("app-name")?.focus();
      return;
    }
    setBusy(true);
    setErrors({});
    try {
      const parsed = parseScopes(scopes);
      const app = await api.createApplication({
        name,
        ...(parsed.length > 0 ? { scopes: parsed } : {}),
      });
      navigate(paths.account(app.id));
    } catch (e) {
      setBusy(false);
      const message = describeError(e);
      if (e instanceof ApiError && /scope/i.test(message)) setErrors({ scopes: message });
      else setErrors({ name: message });
    }
  }

  return (
    <section className="card" aria-labelledby="create-app-heading">
      <h2 id="create-app-heading" className="card-title">
        Create an application
      </h2>
      <form className="form" onSubmit={submit}>
        <div className="field">
          <label htmlFor="app-name">Application name</label>
          <input
            id="app-name"
            name="name"
            required
            maxLength={100}
            value={name}
            aria-invalid={errors.name ? true : undefined}
            aria-describedby={describedBy("app-name", false, errors.name)}
            onChange={(e) => setName(e.target.value)}
          />
          <FieldError id="app-name" error={errors.name} />
        </div>
        <div className="field">
          <label htmlFor="app-scopes">
            Scopes <span className="optional">(optional)</span>
          </label>
          <input
            id="app-scopes"
            name="scopes"
            className="mono"
            placeholder="read write deploy"
            value={scopes}
            aria-invalid={errors.scopes ? true : undefined}
            aria-describedby={describedBy("app-scopes", true, errors.scopes)}
            onChange={(e) => setScopes(e.target.value)}
          />
          <FieldHint id="app-scopes">
            Separate with spaces or commas. Tokens can then be limited to these scopes.
          </FieldHint>
          <FieldError id="app-scopes" error={errors.scopes} />
        </div>
        <button type="submit" className="button button-primary" aria-busy={busy}>
          {busy ? "Creating…" : "Create application"}
        </button>
      </form>
    </section>
  );
}
