import type { ReactNode } from "react";
import { accentStyle } from "../branding";
import { Brand, usePageHeading } from "./brand";
import { Modal } from "./modal";
import "./portal.css";

// A host user's pages: they came from the host's product through a one-time portal link, have
// no Keyward password, and belong to that one application. These pieces replace what a
// Keyward account gets (the sign-in dialog, the sign-in page) with a way back to the host.

export interface HostView {
  /** The host's display name, else the application's name. */
  name: string;
  /** The host's page to go back to (an http(s) URL), when the host gave one. */
  returnUrl?: string;
  accentColor?: string;
}

/**
 * The host's accent on everything inside: CSS custom properties on a wrapping element. The
 * element is there with or without an accent, so the page under it never remounts.
 */
export function BrandedFrame({
  accentColor,
  children,
}: {
  accentColor: string | undefined;
  children: ReactNode;
}) {
  return (
    <div
      className={accentColor ? "branded" : undefined}
      style={accentColor ? accentStyle(accentColor) : undefined}
    >
      {children}
    </div>
  );
}

/** "← Back to Acme": to the page the host asked its users to return to. */
export function BackToHost({ host, className }: { host: HostView; className?: string }) {
  if (!host.returnUrl) return null;
  return (
    <a href={host.returnUrl} className={className ?? "back-to-host"}>
      <span aria-hidden="true">←</span>
      <span className="truncate">
        Back to <bdi>{host.name}</bdi>
      </span>
    </a>
  );
}

const ENDED_TEXT =
  "For your security, this page's session lasts at most an hour. Nothing on this page is lost: " +
  "copy what you need, then open API tokens again from";

/**
 * A portal session ended while the page is open: said over the page, which stays as it is
 * underneath (a secret shown once stays readable). There is nothing to sign in with here;
 * the way on is back through the host.
 */
export function PortalEndedDialog({ host, onDismiss }: { host: HostView; onDismiss: () => void }) {
  return (
    <Modal title="Your session has ended" onDismiss={onDismiss} size="small">
      <div className="stack">
        <div className="callout callout-info" role="alert">
          {ENDED_TEXT} <bdi>{host.name}</bdi>.
        </div>
        <div className="modal-actions">
          <button type="button" className="button" onClick={onDismiss} data-autofocus>
            Not now
          </button>
          {host.returnUrl && <BackToHost host={host} className="button button-primary" />}
        </div>
      </div>
    </Modal>
  );
}

/** Shown while the portal session is over and its dialog is put away. */
export function PortalEndedNotice({ host }: { host: HostView }) {
  return (
    <div className="session-ended callout callout-warning" role="alert">
      <p>
        Your session has ended. Open API tokens again from <bdi>{host.name}</bdi>; nothing on this
        page is lost.
      </p>
      {host.returnUrl && <BackToHost host={host} className="button button-primary button-small" />}
    </div>
  );
}

/** A host user's tab with no session: signed out, or the portal session ended before a load. */
export function PortalGonePage({ host, signedOut }: { host: HostView; signedOut: boolean }) {
  const title = signedOut ? "You have signed out" : "Your session has ended";
  const heading = usePageHeading(title);
  return (
    <BrandedFrame accentColor={host.accentColor}>
      <main className="auth" id="main">
        <div className="auth-card portal-gone">
          <p className="auth-brand">
            <Brand name={host.name} />
          </p>
          <h1 ref={heading} tabIndex={-1} className="auth-title">
            {title}
          </h1>
          <p>
            To manage your API tokens again, go back to <bdi>{host.name}</bdi> and open its API
            tokens page.
          </p>
          {host.returnUrl && (
            <p className="portal-gone-action">
              <BackToHost host={host} className="button button-primary" />
            </p>
          )}
        </div>
      </main>
    </BrandedFrame>
  );
}
