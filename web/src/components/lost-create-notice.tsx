/**
 * A create whose answer never arrived (the connection dropped after the request left): what
 * it asked for may exist, but its secret is gone for good, so the form says so instead of
 * leaving an invisible credential behind. `request` is what the form needs to look again or
 * send again.
 */
export type LostCreate<Request, Created> =
  | { state: "checking"; request: Request }
  /** One of that name appeared that was not there before: created, its secret unseen. */
  | { state: "found"; request: Request; created: Created }
  /** None: nothing was created. */
  | { state: "absent"; request: Request }
  /** The list could not be loaded either: nobody can tell yet. */
  | { state: "unknown"; request: Request };

/** The notice for a `LostCreate`, with a way forward from each state. */
export function LostCreateNotice<Created>({
  name,
  lost,
  pending,
  whereListed,
  copyable,
  onRevokeAndCreate,
  onRetry,
  onCheckAgain,
}: {
  name: string;
  lost: LostCreate<unknown, Created>;
  pending: boolean;
  /** Where the page lists what was created, e.g. "It is in your token list." */
  whereListed?: string;
  /** What a new create gives to copy: "a secret", "a key". */
  copyable: string;
  onRevokeAndCreate: (created: Created) => void;
  onRetry: () => void;
  onCheckAgain: () => void;
}) {
  const strongName = <strong className="token-name-text">{name}</strong>;
  if (lost.state === "checking") {
    return (
      <p className="callout callout-info" role="status">
        The server&rsquo;s answer was lost. Checking whether {strongName} was created…
      </p>
    );
  }
  return (
    <div className="callout callout-warning stack" role="alert">
      {lost.state === "found" && (
        <>
          <p>
            {strongName} may have been created, but the server&rsquo;s answer was lost on the way,
            so its secret cannot be shown.{whereListed ? ` ${whereListed}` : ""} Revoke it and
            create a new one to get {copyable} you can copy.
          </p>
          <button
            type="button"
            className="button button-primary button-small"
            aria-busy={pending}
            onClick={() => onRevokeAndCreate(lost.created)}
          >
            Revoke it and create a new one
          </button>
        </>
      )}
      {lost.state === "absent" && (
        <>
          <p>
            {strongName} was not created: the server could not be reached. Check your connection and
            try again.
          </p>
          <button
            type="button"
            className="button button-small"
            aria-busy={pending}
            onClick={onRetry}
          >
            Try again
          </button>
        </>
      )}
      {lost.state === "unknown" && (
        <>
          <p>
            Can&rsquo;t reach the server, so it is not yet known whether {strongName} was created.
            Check your connection, then check again.
          </p>
          <button type="button" className="button button-small" onClick={onCheckAgain}>
            Check again
          </button>
        </>
      )}
    </div>
  );
}
