import type { Me } from "./api";
import { hostName, safeExternalUrl } from "./branding";

// A host user's tab remembers, for as long as the tab lives, that it came through a portal
// link. When the portal session has ended and the page loads again, the tab can then say so
// and point back to the host, instead of offering Keyward's sign-in form, which a host user
// (who has no password) cannot use. Nothing secret is kept: where to go back to, and a name.

const KEY = "keyward-portal";

export interface RememberedPortal {
  applicationId: string;
  /** The host's page to go back to, when the host gave one. */
  returnUrl?: string;
  /** The host's display name (or the application's name). */
  hostName?: string;
  accentColor?: string;
}

export function rememberPortal(me: Me): void {
  if (!me.portal) return;
  const remembered: RememberedPortal = {
    applicationId: me.portal.applicationId,
    returnUrl: safeExternalUrl(me.portal.returnUrl),
    hostName: hostName(me),
    accentColor: me.portal.branding?.accentColor,
  };
  try {
    sessionStorage.setItem(KEY, JSON.stringify(remembered));
  } catch {
    // Storage may be off (private modes); the tab then falls back to the sign-in page.
  }
}

export function recallPortal(): RememberedPortal | undefined {
  try {
    const text = sessionStorage.getItem(KEY);
    if (!text) return undefined;
    const value = JSON.parse(text) as Partial<RememberedPortal>;
    if (typeof value.applicationId !== "string") return undefined;
    return {
      applicationId: value.applicationId,
      returnUrl: safeExternalUrl(value.returnUrl),
      hostName: typeof value.hostName === "string" ? value.hostName : undefined,
      accentColor: typeof value.accentColor === "string" ? value.accentColor : undefined,
    };
  } catch {
    return undefined;
  }
}

/** A Keyward account signed in in this tab: it is no longer a host user's. */
export function forgetPortal(): void {
  try {
    sessionStorage.removeItem(KEY);
  } catch {
    // nothing to forget
  }
}
