import {
  createContext,
  type ReactNode,
  useCallback,
  useContext,
  useEffect,
  useRef,
  useState,
} from "react";
import { ApiError, api, describeError, type Me, onSessionEnded } from "./api";
import { SessionEndedNotice, SignInDialog } from "./components/signin-dialog";
import { navigate } from "./router";
import { announceSession, SESSION_CHANNEL, type SessionMessage } from "./session-channel";

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

/** A request waiting for the user to sign in again; reads may wait on, writes are let go. */
interface Waiter {
  resume: (resumed: boolean) => void;
  write: boolean;
}

/**
 * Renders its children for a signed-in user; with no session at the start, the browser goes
 * to the sign-in page. A session that ends later (expiry, sign-out in another tab) never
 * navigates away or unmounts the page: what is on screen may be a secret shown only once, or
 * a form the user has filled in. The end is reported in place, the user signs in again in a
 * dialog, and the requests it refused are sent again.
 */
export function RequireSession({ children }: { children: ReactNode }) {
  const [me, setMe] = useState<Me | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [ended, setEnded] = useState(false);
  const [promptOpen, setPromptOpen] = useState(false);
  const meRef = useRef<Me | undefined>(undefined);
  meRef.current = me;
  const endedRef = useRef(false);
  const signingOut = useRef(false);
  const waiters = useRef<Waiter[]>([]);

  const refresh = useCallback(async () => {
    try {
      setMe(await api.me());
      setError(undefined);
    } catch (e) {
      // A 401 before the first answer has already sent the browser to sign in (below).
      if (!(e instanceof ApiError && e.status === 401)) setError(describeError(e));
    }
  }, []);

  const end = useCallback(() => {
    endedRef.current = true;
    setEnded(true);
  }, []);

  const resume = useCallback((next: Me) => {
    endedRef.current = false;
    setMe(next);
    setEnded(false);
    setPromptOpen(false);
    const waiting = waiters.current;
    waiters.current = [];
    for (const waiter of waiting) waiter.resume(true);
  }, []);

  /** After a sign-in here or in another tab: carry on if it is the same person. */
  const continueAs = useCallback(
    async (next: Me) => {
      if (next.user.id !== meRef.current?.user.id) {
        // Someone else signed in: this page holds the previous account's data, so it starts
        // over as the new one, and no request the previous user made is sent on their behalf.
        window.location.reload();
        return;
      }
      resume(next);
    },
    [resume],
  );

  useEffect(() => {
    onSessionEnded((method) => {
      if (signingOut.current) return Promise.resolve(false);
      if (!meRef.current) {
        navigate(signInPath(), { replace: true });
        return Promise.resolve(false);
      }
      const write = method !== "GET";
      // A background refresh reports the end; it does not push the dialog on a user who
      // put it away. Something the user asked for does.
      if (!endedRef.current || write) setPromptOpen(true);
      end();
      return new Promise<boolean>((resolve) => {
        waiters.current.push({ resume: resolve, write });
      });
    });
    void refresh();
    return () => onSessionEnded(undefined);
  }, [refresh, end]);

  useEffect(() => {
    if (typeof BroadcastChannel === "undefined") return;
    const channel = new BroadcastChannel(SESSION_CHANNEL);
    channel.onmessage = (event: MessageEvent<SessionMessage>) => {
      if (!meRef.current) return;
      if (event.data.kind === "signed-out") {
        if (!endedRef.current) setPromptOpen(true);
        end();
      } else if (endedRef.current && event.data.userId === meRef.current.user.id) {
        void api.currentUser().then(continueAs, () => undefined);
      }
    };
    return () => channel.close();
  }, [end, continueAs]);

  const dismissPrompt = useCallback(() => {
    setPromptOpen(false);
    // A write waits for no one: its form says the session ended and keeps what was typed,
    // so pressing its button again (after signing in) sends it. Reads wait for the sign-in.
    const [writes, reads] = partition(waiters.current, (waiter) => waiter.write);
    waiters.current = reads;
    for (const waiter of writes) waiter.resume(false);
  }, []);

  const signOut = useCallback(async () => {
    signingOut.current = true;
    try {
      await api.signOut();
    } catch {
      // The session may already be gone; either way the user ends up signed out.
    }
    announceSession({ kind: "signed-out" });
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
  return (
    <SessionContext value={{ me, refresh, signOut }}>
      {children}
      {ended && !promptOpen && <SessionEndedNotice onSignIn={() => setPromptOpen(true)} />}
      {ended && promptOpen && (
        <SignInDialog email={me.user.email} onSignedIn={continueAs} onDismiss={dismissPrompt} />
      )}
    </SessionContext>
  );
}

function partition<T>(items: T[], test: (item: T) => boolean): [T[], T[]] {
  const yes: T[] = [];
  const no: T[] = [];
  for (const item of items) (test(item) ? yes : no).push(item);
  return [yes, no];
}
