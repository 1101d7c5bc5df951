import { useEffect, useState } from "react";
import { ApiError, type Application, api, describeError } from "../api";
import { ActivitySection } from "../components/activity";
import { usePageHeading } from "../components/brand";
import { AppShell } from "../components/layout";
import { MembersSection } from "../components/members-section";
import { TokensSection } from "../components/tokens-section";
import { roleLabels } from "../format";
import { Link, paths } from "../router";
import { useSession } from "../session";

/** Loads an application the user belongs to; a 404 means "not yours or not there" alike. */
export function useApplication(appId: string) {
  const [app, setApp] = useState<Application | undefined>();
  const [error, setError] = useState<{ notFound: boolean; message: string } | undefined>();
  useEffect(() => {
    let cancelled = false;
    setApp(undefined);
    setError(undefined);
    api
      .getApplication(appId)
      .then((loaded) => {
        if (!cancelled) setApp(loaded);
      })
      .catch((e: unknown) => {
        if (cancelled) return;
        setError({
          notFound: e instanceof ApiError && e.status === 404,
          message: describeError(e),
        });
      });
    return () => {
      cancelled = true;
    };
  }, [appId]);
  return { app, error, setApp };
}

export function ApplicationMissing({ message, notFound }: { message: string; notFound: boolean }) {
  const heading = usePageHeading(notFound ? "Application not found" : "Something went wrong");
  return (
    <div className="empty empty-page">
      <h1 ref={heading} tabIndex={-1}>
        {notFound ? "Application not found" : "Something went wrong"}
      </h1>
      <p>{notFound ? "It does not exist, or you are not a member of it." : message}</p>
      <p>
        <HomeLink />
      </p>
    </div>
  );
}

/** Where "back" goes from a page that cannot be shown: the list, or a host user's one page. */
export function HomeLink() {
  const { host } = useSession();
  return host ? (
    <Link to={paths.account(host.applicationId)} className="button">
      Back to your API tokens
    </Link>
  ) : (
    <Link to={paths.apps()} className="button">
      Back to applications
    </Link>
  );
}

export function AccountPage({ appId }: { appId: string }) {
  const { app, error } = useApplication(appId);
  return (
    <AppShell
      crumbs={[
        { label: "Applications", to: paths.apps() },
        { label: app?.name ?? "…", to: paths.account(appId) },
      ]}
    >
      {error && <ApplicationMissing {...error} />}
      {!app && !error && (
        <p className="loading" role="status">
          Loading application…
        </p>
      )}
      {app && <AccountContent app={app} />}
    </AppShell>
  );
}

function AccountContent({ app }: { app: Application }) {
  const { me, host } = useSession();
  const heading = usePageHeading(`${app.name}: account management`);
  const manager = app.role === "owner" || app.role === "admin";
  const [tokensReload, setTokensReload] = useState(0);
  // Bumped by every change made on this page, so Activity shows it without a reload.
  const [activityReload, setActivityReload] = useState(0);
  const changed = () => setActivityReload((n) => n + 1);
  return (
    <>
      <div className="page-header">
        <div>
          <p className="eyebrow">Account management</p>
          <h1 ref={heading} tabIndex={-1} title={app.name} dir="auto">
            {app.name}
          </h1>
          {/* A host user's page is about their tokens: the team's roles and ids are not theirs. */}
          {!host && (
            <p className="page-meta">
              <span className={`badge badge-role badge-${app.role}`}>{roleLabels[app.role]}</span>
              <span className="muted">
                Application ID <code className="mono">{app.id}</code>
              </span>
              {app.scopes.length > 0 && (
                <span className="muted">
                  Scopes{" "}
                  {app.scopes.map((scope) => (
                    <span key={scope} className="chip mono">
                      {scope}
                    </span>
                  ))}
                </span>
              )}
            </p>
          )}
        </div>
        {manager && !host && (
          <Link to={paths.settings(app.id)} className="button">
            <svg aria-hidden="true" viewBox="0 0 16 16" width="16" height="16" className="icon">
              <circle cx="8" cy="8" r="2.25" />
              <path d="M8 1.5v2m0 9v2M1.5 8h2m9 0h2M3.4 3.4l1.4 1.4m6.4 6.4 1.4 1.4m0-9.2-1.4 1.4M4.8 11.2l-1.4 1.4" />
            </svg>
            Application settings
          </Link>
        )}
      </div>
      <TokensSection
        app={app}
        meId={me.user.id}
        reloadSignal={tokensReload}
        onTokensChanged={changed}
      />
      {manager && (
        <MembersSection
          app={app}
          meId={me.user.id}
          onMemberRemoved={() => {
            setTokensReload((n) => n + 1);
            changed();
          }}
          onMemberAdded={changed}
        />
      )}
      <ActivitySection
        appId={app.id}
        manager={manager}
        meId={me.user.id}
        reloadSignal={activityReload}
      />
    </>
  );
}
