import type { Application } from "../api";
import { BrandingSection, ReturnOriginsSection } from "../components/application-settings";
import { usePageHeading } from "../components/brand";
import { AppShell } from "../components/layout";
import { ServiceKeysSection } from "../components/service-keys-section";
import { TokenPolicySection } from "../components/token-policy-section";
import { WebhooksSection } from "../components/webhooks-section";
import { Link, paths } from "../router";
import { ApplicationMissing, HomeLink, useApplication } from "./account-page";

/**
 * An application's settings, for its owners and admins: service keys for the host's backend,
 * the origins portal links may return to, and the branding host users see. Anyone else who
 * belongs to the application is told it is not theirs to change; anyone else sees "not found".
 */
export function SettingsPage({ appId }: { appId: string }) {
  const { app, error, setApp } = useApplication(appId);
  return (
    <AppShell
      crumbs={[
        { label: "Applications", to: paths.apps() },
        { label: app?.name ?? "…", to: paths.account(appId) },
        { label: "Settings", to: paths.settings(appId) },
      ]}
    >
      {error && <ApplicationMissing {...error} />}
      {!app && !error && (
        <p className="loading" role="status">
          Loading application…
        </p>
      )}
      {app &&
        (app.role === "owner" || app.role === "admin" ? (
          <SettingsContent app={app} onSaved={setApp} />
        ) : (
          <SettingsForbidden />
        ))}
    </AppShell>
  );
}

function SettingsForbidden() {
  const heading = usePageHeading("Settings not available");
  return (
    <div className="empty empty-page">
      <h1 ref={heading} tabIndex={-1}>
        Settings not available
      </h1>
      <p>Only the application&rsquo;s owner and admins can change its settings.</p>
      <p>
        <HomeLink />
      </p>
    </div>
  );
}

function SettingsContent({
  app,
  onSaved,
}: {
  app: Application;
  onSaved: (app: Application) => void;
}) {
  const heading = usePageHeading(`${app.name}: settings`);
  return (
    <>
      <div className="page-header">
        <div>
          <p className="eyebrow">Application settings</p>
          <h1 ref={heading} tabIndex={-1} title={app.name} dir="auto">
            {app.name}
          </h1>
          <p className="page-meta">
            <Link to={paths.account(app.id)}>← Account management</Link>
          </p>
        </div>
      </div>
      <ServiceKeysSection appId={app.id} />
      <ReturnOriginsSection app={app} onSaved={onSaved} />
      <BrandingSection app={app} onSaved={onSaved} />
      <TokenPolicySection app={app} onSaved={onSaved} />
      <WebhooksSection appId={app.id} />
    </>
  );
}
