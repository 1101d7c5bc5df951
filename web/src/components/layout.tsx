import { type ReactNode, useEffect, useRef } from "react";
import { Link } from "../router";
import { useSession } from "../session";
import { LongText } from "./long-text";
import "./layout.css";

export interface Crumb {
  label: string;
  to?: string;
}

/** Sets the tab title and moves focus to the page heading, so a screen reader hears the new page. */
export function usePageHeading(title: string) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${title} · Keyward`;
  }, [title]);
  useEffect(() => {
    ref.current?.focus({ preventScroll: true });
  }, []);
  return ref;
}

export function Brand() {
  return (
    <span className="brand">
      <svg className="brand-mark" viewBox="0 0 32 32" aria-hidden="true" width="24" height="24">
        <rect width="32" height="32" rx="7" />
        <circle cx="12" cy="16" r="5" />
        <path d="M17 16h10m-4 0v5m3-5v3" />
      </svg>
      <span className="brand-name">Keyward</span>
    </span>
  );
}

/** The signed-in frame: top bar with where you are, who you are, and Sign out. */
export function AppShell({ crumbs, children }: { crumbs: Crumb[]; children: ReactNode }) {
  const { me, signOut } = useSession();
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <div className="topbar-inner">
          <Link to="/apps" className="brand-link" aria-label="Keyward, all applications">
            <Brand />
          </Link>
          <nav aria-label="Breadcrumb" className="crumbs">
            <ol>
              {crumbs.map((crumb, i) => (
                <li key={crumb.to ?? crumb.label}>
                  {crumb.to && i < crumbs.length - 1 ? (
                    <Link to={crumb.to} className="truncate" title={crumb.label} dir="auto">
                      {crumb.label}
                    </Link>
                  ) : (
                    <span
                      className="truncate"
                      title={crumb.label}
                      dir="auto"
                      aria-current={i === crumbs.length - 1 ? "page" : undefined}
                    >
                      {crumb.label}
                    </span>
                  )}
                </li>
              ))}
            </ol>
          </nav>
          <div className="account-menu">
            <span className="account-who">
              <span className="avatar" aria-hidden="true">
                {initials(me.user.name || me.user.email)}
              </span>
              <span className="account-text">
                <LongText className="account-name" text={me.user.name} />
                <LongText className="account-email" text={me.user.email} />
              </span>
            </span>
            <button type="button" className="button button-ghost" onClick={() => void signOut()}>
              Sign out
            </button>
          </div>
        </div>
      </header>
      <main className="page" id="main">
        {children}
      </main>
    </>
  );
}

function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  const letters = parts.length > 1 ? [parts[0], parts.at(-1)] : [parts[0]];
  return letters
    .map((p) => [...(p ?? "")][0] ?? "")
    .join("")
    .toUpperCase();
}
