import { createContext, type ReactNode, useCallback, useContext, useEffect, useState } from "react";
import { ApiError, api, describeError, type Me, onSignedOut } from "./api";
import { navigate } from "./router";

interface Session {
  me: Me;
  refresh: () => Promise<void>;
  signOut: () => Promise<void>;
}

const SessionContext = createContext<Session | undefined>(undefined);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession outside <RequireSession>");
  return session;
}

/** The sign-in page, coming back here afterwards (never to a sign-in or sign-up page). */
function signInPath(): string {
  const { pathname, search } = window.location;
  if (pathname === "/signin" || pathname === "/signup") return pathname + search;
  return `/signin?next=${encodeURIComponent(pathname + search)}`;
}

/** Renders its children for a signed-in user; anyone else goes to the sign-in page. */
export function RequireSession({ children }: { children: ReactNode }) {
  const [me, setMe] = useState<Me | undefined>();
  const [error, setError] = useState<string | undefined>();

  const refresh = useCallback(async () => {
    try {
      setMe(await api.me());
      setError(undefined);
    } catch (e) {
      // A 401 has already sent the browser to sign in (onSignedOut below).
      if (!(e instanceof ApiError && e.status === 401)) setError(describeError(e));
    }
  }, []);

  useEffect(() => {
    onSignedOut(() => navigate(signInPath(), { replace: true }));
    void refresh();
    return () => onSignedOut(undefined);
  }, [refresh]);

  const signOut = useCallback(async () => {
    try {
      await api.signOut();
    } catch {
      // The session may already be gone; either way the user ends up signed out.
    }
    navigate("/signin?signedOut=1", { replace: true });
  }, []);

  if (error) {
    return (
      <main className="page page-narrow" id="main">
        <div className="callout callout-danger" role="alert">
          <p>{error}</p>
          <button type="button" className="button" onClick={() => void refresh()}>
            Try again
          </button>
        </div>
      </main>
    );
  }
  if (!me) {
    return (
      <main className="page page-narrow" id="main">
        <p className="loading" role="status">
          Loading…
        </p>
      </main>
    );
  }
  return <SessionContext value={{ me, refresh, signOut }}>{children}</SessionContext>;
}
