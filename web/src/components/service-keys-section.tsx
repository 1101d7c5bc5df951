import { type FormEvent, useCallback, useEffect, useId, useRef, useState } from "react";
import { ApiError, api, describeError, type IssuedServiceKey, type ServiceKey } from "../api";
import { plural } from "../format";
import { CreatorNote } from "./creator-note";
import { describedBy, FieldError, FieldHint, FormAlert } from "./field";
import { LongText } from "./long-text";
import { type LostCreate, LostCreateNotice } from "./lost-create-notice";
import { ConfirmDialog } from "./modal";
import { RelativeTime } from "./relative-time";
import { type ShownSecret, ShowSecretDialog } from "./token-dialogs";
import { StatusBadge } from "./token-table";
import { useNow } from "./use-now";
import "./service-keys-section.css";

const NAME_MAX_LENGTH = 100;
/** A key used within this long is probably in use: revoking it will break something. */
const RECENT_USE_MS = 7 * 24 * 3600 * 1000;

function keyNameId(keyId: string): string {
  return `service-key-name-${keyId}`;
}

/** A command the host's backend can run as is: verify one of the application's tokens. */
function verifyCommand(key: string): string {
  return (
    `curl -H "Authorization: Bearer ${key}" -H "Content-Type: application/json" ` +
    `-d '{"token":"<an API token>"}' ${window.location.origin}/api/v1/service/verify`
  );
}

function shownKey(issued: IssuedServiceKey): ShownSecret {
  return {
    secret: issued.key,
    name: issued.serviceKey.name,
    noun: "service key",
    title: "Copy your new service key",
    warning: (
      <>
        <strong>Copy it now: this service key will not be shown again.</strong> Keyward keeps only a
        one-way hash of it. Keep it on your backend only (a secret manager or its environment),
        never in a browser or a mobile app.
      </>
    ),
    replaceBy: "create a new key",
    example: {
      label: "Try it: verify a token with curl",
      command: verifyCommand(issued.key),
      copyLabel: "Copy curl command",
      copied: "Curl command copied to clipboard.",
      hint: (
        <>
          Your backend sends the key as <code>Authorization: Bearer &lt;key&gt;</code> to{" "}
          <code>{window.location.origin}/api/v1/service/…</code> only.
        </>
      ),
    },
  };
}

/**
 * An application's service keys (owners and admins): what its host's backend uses to manage
 * host users, verify tokens and open portal links. Created with a name and shown once, in the
 * same dialog as tokens; listed by hint; revoked after a confirmation.
 */
export function ServiceKeysSection({ appId }: { appId: string }) {
  const [keys, setKeys] = useState<ServiceKey[] | undefined>();
  const [loadError, setLoadError] = useState<string | undefined>();
  const [issued, setIssued] = useState<IssuedServiceKey | undefined>();
  const [revoking, setRevoking] = useState<ServiceKey | undefined>();
  const [announcement, setAnnouncement] = useState("");
  const headingRef = useRef<HTMLHeadingElement>(null);
  const now = useNow();

  const load = useCallback(async () => {
    try {
      const answer = await api.listServiceKeys(appId);
      setKeys(answer.serviceKeys);
      setLoadError(undefined);
      return answer.serviceKeys;
    } catch (e) {
      setLoadError(describeError(e));
      return undefined;
    }
  }, [appId]);

  useEffect(() => {
    void load();
  }, [load]);

  const active = keys?.filter((k) => k.status === "active").length ?? 0;

  return (
    <section className="section" aria-labelledby="service-keys-heading">
      <div className="section-header">
        <h2 id="service-keys-heading" ref={headingRef} tabIndex={-1}>
          Service keys
        </h2>
        <p className="section-lede">
          Your product&rsquo;s backend uses a service key to add its users here, send them to their
          API tokens page, and verify their tokens. Each key is shown once, stored only as a hash,
          and can be revoked at any time.
        </p>
      </div>
      <div className="card">
        <CreateServiceKeyForm
          appId={appId}
          knownIds={() => new Set(keys?.map((k) => k.id))}
          reload={load}
          onCreated={(created) => {
            setIssued(created);
            setKeys((prev) => [
              created.serviceKey,
              ...(prev ?? []).filter((k) => k.id !== created.serviceKey.id),
            ]);
          }}
        />
      </div>
      <div className="card card-flush">
        <div className="card-toolbar">
          <h3 id="service-key-list-heading" className="card-title">
            Keys
            {keys && <span className="count">{active} active</span>}
          </h3>
          {keys && keys.length > 0 && (
            <span className="muted">{plural(keys.length, "key", "keys")}</span>
          )}
        </div>
        {loadError && (
          <div className="callout callout-danger card-callout" role="alert">
            {loadError}{" "}
            <button type="button" className="button button-small" onClick={() => void load()}>
              Try again
            </button>
          </div>
        )}
        {!keys && !loadError && (
          <p className="loading card-pad" role="status">
            Loading service keys…
          </p>
        )}
        {keys && keys.length === 0 && (
          <div className="empty card-pad">
            <p className="empty-title">No service keys yet</p>
            <p>Create one above for your backend.</p>
          </div>
        )}
        {keys && keys.length > 0 && (
          <div className="table-wrap">
            <table
              className="table grid-table service-key-table"
              aria-labelledby="service-keys-heading"
            >
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Created</th>
                  <th scope="col">Last used</th>
                  <th scope="col">Status</th>
                  <th scope="col">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {keys.map((key) => (
                  <tr
                    key={key.id}
                    className={key.status === "active" ? "row-active" : "row-inactive row-revoked"}
                  >
                    <th scope="row" className="cell-name">
                      <span id={keyNameId(key.id)} tabIndex={-1} className="service-key-name">
                        <LongText text={key.name} />
                      </span>
                      <span className="mono token-hint">{key.hint}</span>
                    </th>
                    <td data-label="Created">
                      <RelativeTime iso={key.createdAt} now={now} />
                      <CreatorNote createdBy={key.createdBy} />
                    </td>
                    <td data-label="Last used">
                      {key.lastUsedAt ? (
                        <RelativeTime iso={key.lastUsedAt} now={now} />
                      ) : (
                        <span className="muted">Never</span>
                      )}
                    </td>
                    <td className="cell-status" data-label="Status">
                      <StatusBadge status={key.status} />
                      {key.revokedAt && (
                        <span className="status-when">
                          <RelativeTime iso={key.revokedAt} now={now} />
                        </span>
                      )}
                    </td>
                    <td className="cell-actions">
                      {key.status === "active" && (
                        <button
                          type="button"
                          className="button button-small button-danger-outline"
                          aria-describedby={keyNameId(key.id)}
                          onClick={() => setRevoking(key)}
                        >
                          Revoke
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </div>
      <p className="sr-only" role="status" aria-live="polite">
        {announcement}
      </p>

      {issued && (
        <ShowSecretDialog
          shown={shownKey(issued)}
          onClose={() => setIssued(undefined)}
          returnFocus={() => document.getElementById(keyNameId(issued.serviceKey.id))}
        />
      )}
      {revoking && (
        <ConfirmDialog
          title={
            <>
              Revoke <span className="token-name-text">“{revoking.name}”</span>?
            </>
          }
          confirmLabel="Revoke"
          tone="danger"
          onCancel={() => setRevoking(undefined)}
          onConfirm={async () => {
            await api.revokeServiceKey(appId, revoking.id);
            const at = new Date().toISOString();
            setKeys((prev) =>
              prev?.map((k) =>
                k.id === revoking.id
                  ? { ...k, status: "revoked", revokedAt: k.revokedAt ?? at }
                  : k,
              ),
            );
            setRevoking(undefined);
            setAnnouncement(`Service key “${revoking.name}” revoked.`);
            // The server's own times replace the guess above.
            void load();
          }}
          returnFocus={() => document.getElementById(keyNameId(revoking.id)) ?? headingRef.current}
        >
          <p>
            Every request made with this key is refused from the next one on, on every server, and
            users who came in through its portal links are signed out. This cannot be undone; create
            a new key to replace it.
          </p>
          {revoking.lastUsedAt && now - Date.parse(revoking.lastUsedAt) < RECENT_USE_MS && (
            <div className="callout callout-warning">
              <strong>This key is in use.</strong> It was last used{" "}
              <RelativeTime iso={revoking.lastUsedAt} now={now} />. Put its replacement in place
              first.
            </div>
          )}
        </ConfirmDialog>
      )}
    </section>
  );
}

/**
 * A create of a service key whose answer never arrived; see `LostCreate`. `known`: the ids
 * listed before the request, to tell a key it made from older ones of the same name.
 */
type LostKeyCreate = LostCreate<{ name: string; known: Set<string> }, ServiceKey>;

function CreateServiceKeyForm({
  appId,
  knownIds,
  reload,
  onCreated,
}: {
  appId: string;
  /** The ids listed before a create, to tell a key it made from older ones of the same name. */
  knownIds: () => Set<string>;
  reload: () => Promise<ServiceKey[] | undefined>;
  onCreated: (issued: IssuedServiceKey) => void;
}) {
  const [name, setName] = useState("");
  const [error, setError] = useState<string | undefined>();
  const [formError, setFormError] = useState<string | undefined>();
  const [lost, setLost] = useState<LostKeyCreate | undefined>();
  const [pending, setPending] = useState(false);
  const busy = useRef(false);
  const nameRef = useRef<HTMLInputElement>(null);
  const id = useId();
  const nameId = `${id}-name`;

  async function submit(event: FormEvent) {
    event.preventDefault();
    const trimmed = name.trim();
    if (!trimmed) {
      setError("Enter a name that says which backend uses the key.");
      nameRef.current?.focus();
      return;
    }
    if ([...trimmed].length > NAME_MAX_LENGTH) {
      setError(`Use at most ${NAME_MAX_LENGTH} characters.`);
      nameRef.current?.focus();
      return;
    }
    await send(trimmed);
  }

  async function send(keyName: string, before?: () => Promise<void>) {
    if (busy.current) return;
    busy.current = true;
    setPending(true);
    setError(undefined);
    setFormError(undefined);
    setLost(undefined);
    const known = knownIds();
    try {
      await before?.();
      const created = await api.createServiceKey(appId, { name: keyName });
      setName("");
      onCreated(created);
    } catch (e) {
      if (e instanceof ApiError && e.code === "network_error") {
        void findLost({ name: keyName, known });
      } else if (e instanceof ApiError && e.code === "authentication_required") {
        setFormError("Your session has ended. Sign in again, then press Create service key again.");
      } else if (e instanceof ApiError && e.code === "validation_failed") {
        setError(describeError(e));
        nameRef.current?.focus();
      } else {
        setFormError(describeError(e));
      }
    } finally {
      busy.current = false;
      setPending(false);
    }
  }

  /** No answer came back; the list says whether the request made a key anyway. */
  async function findLost(request: { name: string; known: Set<string> }) {
    setLost({ state: "checking", request });
    const keys = await reload();
    if (!keys) {
      setLost({ state: "unknown", request });
      return;
    }
    const key = keys.find(
      (k) => k.status === "active" && k.name === request.name && !request.known.has(k.id),
    );
    setLost(key ? { state: "found", request, created: key } : { state: "absent", request });
  }

  return (
    <form className="form" onSubmit={submit} aria-labelledby={`${id}-heading`}>
      <h3 id={`${id}-heading`} className="card-title">
        Create a service key
      </h3>
      <FormAlert error={formError} />
      {lost && (
        <LostCreateNotice
          name={lost.request.name}
          lost={lost}
          pending={pending}
          copyable="a key"
          onRevokeAndCreate={(key) =>
            void send(lost.request.name, async () => {
              await api.revokeServiceKey(appId, key.id);
              await reload();
            })
          }
          onRetry={() => void send(lost.request.name)}
          onCheckAgain={() => void findLost(lost.request)}
        />
      )}
      <div className="form-row">
        <div className="field field-grow">
          <label htmlFor={nameId}>Service key name</label>
          <input
            ref={nameRef}
            id={nameId}
            name="name"
            autoComplete="off"
            required
            maxLength={NAME_MAX_LENGTH * 2}
            value={name}
            aria-invalid={error ? true : undefined}
            aria-describedby={describedBy(nameId, true, error)}
            onChange={(e) => setName(e.target.value)}
          />
          <FieldHint id={nameId}>
            Say which backend uses it, e.g. “billing-api production”.
          </FieldHint>
          <FieldError id={nameId} error={error} />
        </div>
        <div className="field field-button">
          <button type="submit" className="button button-primary" aria-busy={pending}>
            Create service key
          </button>
        </div>
      </div>
    </form>
  );
}
