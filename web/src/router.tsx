import { type AnchorHTMLAttributes, type MouseEvent, useSyncExternalStore } from "react";

// A few lines of history routing: the app has eight pages and needs no router library.

export type Route =
  | { page: "home" }
  | { page: "signup" }
  | { page: "signin" }
  | { page: "forgot-password" }
  | { page: "reset-password" }
  | { page: "confirm-email" }
  | { page: "apps" }
  | { page: "security" }
  | { page: "account"; appId: string }
  | { page: "token"; appId: string; tokenId: string }
  | { page: "settings"; appId: string }
  | { page: "not-found" };

const ID = "([A-Za-z0-9_]+)";
const patterns: Array<[RegExp, (m: RegExpMatchArray) => Route]> = [
  [/^\/$/, () => ({ page: "home" })],
  [/^\/signup$/, () => ({ page: "signup" })],
  [/^\/signin$/, () => ({ page: "signin" })],
  [/^\/forgot-password$/, () => ({ page: "forgot-password" })],
  [/^\/reset-password$/, () => ({ page: "reset-password" })],
  [/^\/confirm-email$/, () => ({ page: "confirm-email" })],
  [/^\/apps$/, () => ({ page: "apps" })],
  [/^\/security$/, () => ({ page: "security" })],
  [new RegExp(`^/app/${ID}/account-management$`), (m) => ({ page: "account", appId: m[1] ?? "" })],
  [new RegExp(`^/app/${ID}/settings$`), (m) => ({ page: "settings", appId: m[1] ?? "" })],
  [
    new RegExp(`^/app/${ID}/account-management/tokens/${ID}$`),
    (m) => ({ page: "token", appId: m[1] ?? "", tokenId: m[2] ?? "" }),
  ],
];

export function matchRoute(pathname: string): Route {
  for (const [pattern, build] of patterns) {
    const match = pathname.match(pattern);
    if (match) return build(match);
  }
  return { page: "not-found" };
}

export const paths = {
  apps: () => "/apps",
  security: () => "/security",
  account: (appId: string) => `/app/${encodeURIComponent(appId)}/account-management`,
  settings: (appId: string) => `/app/${encodeURIComponent(appId)}/settings`,
  token: (appId: string, tokenId: string) =>
    `/app/${encodeURIComponent(appId)}/account-management/tokens/${encodeURIComponent(tokenId)}`,
};

const NAVIGATE_EVENT = "keyward:navigate";

function subscribe(onChange: () => void): () => void {
  window.addEventListener("popstate", onChange);
  window.addEventListener(NAVIGATE_EVENT, onChange);
  return () => {
    window.removeEventListener("popstate", onChange);
    window.removeEventListener(NAVIGATE_EVENT, onChange);
  };
}

const currentHref = () => window.location.pathname + window.location.search;

/** The current path and query; re-renders on navigation. */
export function useLocation(): URL {
  const href = useSyncExternalStore(subscribe, currentHref);
  return new URL(href, window.location.origin);
}

export function navigate(to: string, options: { replace?: boolean } = {}): void {
  if (to === currentHref()) return;
  if (options.replace) window.history.replaceState(null, "", to);
  else window.history.pushState(null, "", to);
  window.dispatchEvent(new Event(NAVIGATE_EVENT));
}

/**
 * A path inside this app only: `?next=` must never send a user to another site. Resolved
 * as the browser would resolve it (which drops tabs and line breaks and reads a backslash as
 * `/`, so `/<tab>/evil.example` is `//evil.example`), then kept only on this origin.
 */
export function safeNextPath(next: string | null): string | undefined {
  if (!next?.startsWith("/")) return undefined;
  let url: URL;
  try {
    url = new URL(next, window.location.origin);
  } catch {
    return undefined;
  }
  if (url.origin !== window.location.origin) return undefined;
  return url.pathname + url.search + url.hash;
}

type LinkProps = Omit<AnchorHTMLAttributes<HTMLAnchorElement>, "href"> & { to: string };

/** An ordinary link (middle-click, copy link all work) that navigates without a reload. */
export function Link({ to, onClick, ...rest }: LinkProps) {
  const handleClick = (event: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(event);
    if (
      event.defaultPrevented ||
      event.button !== 0 ||
      event.metaKey ||
      event.ctrlKey ||
      event.shiftKey ||
      event.altKey
    ) {
      return;
    }
    event.preventDefault();
    navigate(to);
  };
  return <a href={to} onClick={handleClick} {...rest} />;
}
