import {
  createContext,
  type ReactNode,
  useCallback,
  useContext,
  useEffect,
  useRef,
  useState,
} from "react";
import {
  ApiError,
  api,
  describeError,
  type Me,
  onReauthenticationRequired,
  onSessionEnded,
} from "./api";
import { hostName, safeExternalUrl } from "./branding";
import {
  BrandedFrame,
  type HostView,
  PortalEndedDialog,
  PortalEndedNotice,
  PortalGonePage,
} from "./components/portal";
import { ReauthenticateDialog } from "./components/reauth-dialog";
import { SessionEndedNotice, SignInDialog } from "./components/signin-dialog";
import { forgetPortal, recallPortal, rememberPortal } from "./portal-memory";
import { navigate } from "./router";
import { announceSession, SESSION_CHANNEL, type SessionMessage } from "./session-channel";

interface Session {
  me: Me;
  /** Set when this is a host user's portal session: the host, and the one application. */
  host?: HostView & { applicationId: string };
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

function hostView(me: Me): Session["host"] {
  if (!me.portal) return undefined;
  return {
    applicationId: me.portal.applicationId,
    name: hostName(me) ?? "the application",
    returnUrl: safeExternalUrl(me.portal.returnUrl),
    accentColor: me.portal.branding?.accentColor,
  };
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
 *
 * A host user's portal session cannot be signed in to again here (they have no password):
 * its end is reported in place the same way, with a link back to the host instead of a
 * sign-in, and a tab that loads without a session after one says so instead of showing
 * Keyward's sign-in page.
 */
export function RequireSession({ children }: { children: ReactNode }) {
  const [me, setMe] = useState<Me | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [ended, setEnded] = useState(false);
  const [promptOpen, setPromptOpen] = useState(false);
  /** A host user's tab with no session (see PortalGonePage). */
  const [portalGone, setPortalGone] = useState<
    { host: HostView; signedOut: boolean } | undefined
  >();
  const meRef = useRef<Me | undefined>(undefined);
  meRef.current = me;
  const endedRef = useRef(false);
  const signingOut = useRef(false);
  const waiters = useRef<Waiter[]>([]);
  /** Sensitive requests held until the password is confirmed (one dialog for all of them). */
  const [reauthOpen, setReauthOpen] = useState(false);
  const reauthWaiters = useRef<Array<(confirmed: boolean) => void>>([]);

  useEffect(() => {
    onReauthenticationRequired(() => {
      setReauthOpen(true);
      return new Promise<boolean>((resolve) => {
        reauthWaiters.current.push(resolve);
      });
    });
    return () => onReauthenticationRequired(undefined);
  }, []);

  const settleReauth = useCallback((confirmed: boolean) => {
    setReauthOpen(false);
    const waiting = reauthWaiters.current;
    reauthWaiters.current = [];
    for (const resolve of waiting) resolve(confirmed);
  }, []);

  const refresh = useCallback(async () => {
    try {
      const next = await api.me();
      setMe(next);
      setError(undefined);
      if (next.portal) {
        rememberPortal(next);
        // Another tab of this host user whose session ended can carry on with this one.
        announceSession({ kind: "signed-in", userId: next.user.id });
      } else {
        forgetPortal();
      }
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
        const remembered = recallPortal();
        if (remembered) {
          setPortalGone({
            host: { ...remembered, name: remembered.hostName ?? "the application" },
            signedOut: false,
          });
        } else {
          navigate(signInPath(), { replace: true });
        }
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
    const host = meRef.current && hostView(meRef.current);
    if (host) {
      // A host user goes back to the host, or is told they are out; never to a sign-in
      // form they have no password for.
      if (host.returnUrl) window.location.assign(host.returnUrl);
      else setPortalGone({ host, signedOut: true });
      return;
    }
    navigate("/signin?signedOut=1", { replace: true });
  }, []);

  if (portalGone) return <PortalGonePage {...portalGone} />;
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
  const host = hostView(me);
  return (
    <SessionContext value={{ me, host, refresh, signOut }}>
      <BrandedFrame accentColor={host?.accentColor}>
        {children}
        {host ? (
          <>
            {ended && !promptOpen && <PortalEndedNotice host={host} />}
            {ended && promptOpen && <PortalEndedDialog host={host} onDismiss={dismissPrompt} />}
          </>
        ) : (
          <>
            {ended && !promptOpen && <SessionEndedNotice onSignIn={() => setPromptOpen(true)} />}
            {ended && promptOpen && (
              <SignInDialog
                email={me.user.email}
                onSignedIn={continueAs}
                onDismiss={dismissPrompt}
              />
            )}
            {reauthOpen && !ended && (
              <ReauthenticateDialog
                email={me.user.email}
                onConfirmed={() => settleReauth(true)}
                onCancel={() => settleReauth(false)}
              />
            )}
          </>
        )}
      </BrandedFrame>
    </SessionContext>
  );
}

function partition<T>(items: T[], test: (item: T) => boolean): [T[], T[]] {
  const yes: T[] = [];
  const no: T[] = [];
  for (const item of items) (test(item) ? yes : no).push(item);
  return [yes, no];
}
