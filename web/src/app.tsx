import { useEffect } from "react";
import { usePageHeading } from "./components/brand";
import { AccountPage } from "./pages/account-page";
import { AppsPage } from "./pages/apps-page";
import { SignInPage, SignUpPage } from "./pages/auth-pages";
import { ConfirmEmailPage, ForgotPasswordPage, ResetPasswordPage } from "./pages/email-pages";
import { SecurityPage } from "./pages/security-page";
import { SettingsPage } from "./pages/settings-page";
import { TokenDetailPage } from "./pages/token-detail-page";
import { Link, matchRoute, navigate, paths, type Route, useLocation } from "./router";
import { RequireSession, useSession } from "./session";

export function App() {
  const location = useLocation();
  const route = matchRoute(location.pathname);
  switch (route.page) {
    case "home":
      return <Redirect to="/apps" />;
    case "signup":
      return <SignUpPage />;
    case "signin":
      return <SignInPage />;
    case "forgot-password":
      return <ForgotPasswordPage />;
    case "reset-password":
      return <ResetPasswordPage />;
    case "confirm-email":
      return <ConfirmEmailPage />;
    case "not-found":
      return <NotFoundPage />;
    default:
      // One session for every signed-in page: moving between them does not reload it.
      return (
        <RequireSession>
          <SignedInPage route={route} />
        </RequireSession>
      );
  }
}

function SignedInPage({ route }: { route: Route }) {
  const { host } = useSession();
  switch (route.page) {
    case "account":
      return <AccountPage key={route.appId} appId={route.appId} />;
    case "token":
      return (
        <TokenDetailPage
          key={`${route.appId}/${route.tokenId}`}
          appId={route.appId}
          tokenId={route.tokenId}
        />
      );
    case "settings":
      return <SettingsPage key={route.appId} appId={route.appId} />;
    case "security":
      // A host user has no password or sessions of their own to manage here.
      if (host) return <Redirect to={paths.account(host.applicationId)} />;
      return <SecurityPage />;
    default:
      // A host user has one application: their page is its account page.
      if (host) return <Redirect to={paths.account(host.applicationId)} />;
      return <AppsPage />;
  }
}

function Redirect({ to }: { to: string }) {
  useEffect(() => navigate(to, { replace: true }), [to]);
  return null;
}

function NotFoundPage() {
  const heading = usePageHeading("Page not found");
  return (
    <main className="auth" id="main">
      <div className="auth-card empty">
        <h1 ref={heading} tabIndex={-1}>
          Page not found
        </h1>
        <p>There is no page at this address.</p>
        <p>
          <Link to="/apps" className="button button-primary">
            Go to your applications
          </Link>
        </p>
      </div>
    </main>
  );
}
