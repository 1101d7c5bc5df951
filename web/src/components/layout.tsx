import type { ReactNode } from "react";
import { Link, paths } from "../router";
import { useSession } from "../session";
import { Brand } from "./brand";
import { LongText } from "./long-text";
import { BackToHost } from "./portal";
import "./layout.css";

export interface Crumb {
  label: string;
  to?: string;
}

/** The signed-in frame: top bar with where you are, who you are, and Sign out. */
export function AppShell({ crumbs: given, children }: { crumbs: Crumb[]; children: ReactNode }) {
  const { me, host, signOut } = useSession();
  // A host user has one application and no list of them: the path starts at its page.
  const crumbs = host ? given.filter((crumb) => crumb.to !== paths.apps()) : given;
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className={host ? "topbar topbar-portal" : "topbar"}>
        <div className="topbar-inner">
          {host ? (
            <span className="brand-host">
              <Brand name={host.name} />
            </span>
          ) : (
            <Link to="/apps" className="brand-link" aria-label="Keyward, all applications">
              <Brand />
            </Link>
          )}
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
                {initials(me.user.name || me.user.email) || "?"}
              </span>
              <span className="account-text">
                {me.user.name && <LongText className="account-name" text={me.user.name} />}
                {me.user.email && <LongText className="account-email" text={me.user.email} />}
              </span>
            </span>
            {!host && (
              <Link to={paths.security()} className="button button-ghost">
                Security
              </Link>
            )}
            <button type="button" className="button button-ghost" onClick={() => void signOut()}>
              Sign out
            </button>
          </div>
        </div>
      </header>
      <main className="page" id="main">
        {host?.returnUrl && (
          <p className="portal-back">
            <BackToHost host={host} />
          </p>
        )}
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
