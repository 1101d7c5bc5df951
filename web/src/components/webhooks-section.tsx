import { type FormEvent, useCallback, useEffect, useId, useState } from "react";
import { ApiError, api, describeError, type Webhook, type WebhookDelivery } from "../api";
import { formatDate } from "../format";
import { CreatorNote } from "./creator-note";
import { describedBy, FieldError, FieldHint, FormAlert } from "./field";
import { type ShownSecret, ShowSecretDialog } from "./token-dialogs";

const EVENTS = [
  "token.created",
  "token.revoked",
  "token.regenerated",
  "token.expiring",
  "token.leaked",
  "token.refused",
  "member.added",
  "member.removed",
] as const;

function shownSecret(secret: string, webhook: Webhook): ShownSecret {
  return {
    secret,
    name: webhook.url,
    noun: "signing secret",
    title: "Copy the webhook's signing secret",
    warning: (
      <>
        <strong>Copy it now: this secret will not be shown again.</strong> Your receiver uses it to
        check that each delivery comes from Keyward (Standard Webhooks signatures).
      </>
    ),
    replaceBy: "delete the webhook and register it again",
  };
}

/**
 * Webhooks: URLs Keyward calls, signed, when tokens and members change. Registered with the
 * events they want; the secret is shown once; each shows its last deliveries.
 */
export function WebhooksSection({ appId }: { appId: string }) {
  const [webhooks, setWebhooks] = useState<Webhook[] | undefined>();
  const [url, setUrl] = useState("");
  const [events, setEvents] = useState<string[]>(["token.revoked", "token.leaked"]);
  const [errors, setErrors] = useState<{ url?: string; events?: string; form?: string }>({});
  const [busy, setBusy] = useState(false);
  const [issued, setIssued] = useState<{ secret: string; webhook: Webhook } | undefined>();
  const [open, setOpen] = useState<string | undefined>();
  const id = useId();
  const urlId = `${id}-url`;

  const load = useCallback(async () => {
    try {
      setWebhooks((await api.listWebhooks(appId)).webhooks);
    } catch (e) {
      setErrors({ form: describeError(e) });
    }
  }, [appId]);
  useEffect(() => {
    void load();
  }, [load]);

  async function register(event: FormEvent) {
    event.preventDefault();
    if (busy) return;
    if (events.length === 0) {
      setErrors({ events: "Choose at least one event." });
      return;
    }
    setErrors({});
    setBusy(true);
    try {
      const created = await api.createWebhook(appId, { url: url.trim(), events });
      setIssued(created);
      setUrl("");
      await load();
    } catch (e) {
      if (e instanceof ApiError && e.status === 400) setErrors({ url: e.detail });
      else setErrors({ form: describeError(e) });
    } finally {
      setBusy(false);
    }
  }

  async function remove(webhook: Webhook) {
    try {
      await api.deleteWebhook(appId, webhook.id);
      await load();
    } catch (e) {
      setErrors({ form: describeError(e) });
    }
  }

  return (
    <section className="section" aria-labelledby={`${id}-heading`}>
      <div className="section-header">
        <h2 id={`${id}-heading`}>Webhooks</h2>
        <p className="section-lede">
          Keyward posts signed events (Standard Webhooks) to these URLs, and retries a failed
          delivery for more than a day with the same <code>webhook-id</code>.
        </p>
      </div>
      <form className="card form" onSubmit={register} aria-label="Register a webhook">
        <FormAlert error={errors.form} />
        <div className="field">
          <label htmlFor={urlId}>Endpoint URL</label>
          <input
            id={urlId}
            name="url"
            type="url"
            required
            autoComplete="off"
            className="mono"
            placeholder="https://hooks.example.com/keyward"
            value={url}
            aria-invalid={errors.url ? true : undefined}
            aria-describedby={describedBy(urlId, true, errors.url)}
            onChange={(e) => setUrl(e.target.value)}
          />
          <FieldHint id={urlId}>Private and loopback addresses are refused at delivery.</FieldHint>
          <FieldError id={urlId} error={errors.url} />
        </div>
        <fieldset className="fieldset">
          <legend>Events</legend>
          <div className="scope-grid">
            {EVENTS.map((name) => (
              <label key={name} className="checkbox">
                <input
                  type="checkbox"
                  name="events"
                  value={name}
                  checked={events.includes(name)}
                  onChange={(e) =>
                    setEvents((prev) =>
                      e.target.checked ? [...prev, name] : prev.filter((n) => n !== name),
                    )
                  }
                />
                <span className="mono">{name}</span>
              </label>
            ))}
          </div>
          {errors.events && <p className="field-error">{errors.events}</p>}
        </fieldset>
        <div className="form-actions">
          <button type="submit" className="button button-primary" aria-busy={busy}>
            Register webhook
          </button>
        </div>
      </form>
      {webhooks && webhooks.length === 0 && <p className="empty">No webhooks yet.</p>}
      {webhooks && webhooks.length > 0 && (
        <ul className="card webhook-list" aria-label="Webhooks">
          {webhooks.map((webhook) => (
            <li key={webhook.id} className="webhook-item">
              <div>
                <span className="mono" title={webhook.url}>
                  {webhook.url}
                </span>{" "}
                <span className="muted">{webhook.events.join(", ")}</span>
                <CreatorNote createdBy={webhook.createdBy} />
              </div>
              <div className="form-actions">
                <button
                  type="button"
                  className="button"
                  aria-expanded={open === webhook.id}
                  onClick={() => setOpen(open === webhook.id ? undefined : webhook.id)}
                >
                  Deliveries
                </button>
                <button
                  type="button"
                  className="button button-danger"
                  onClick={() => void remove(webhook)}
                >
                  Delete
                </button>
              </div>
              {open === webhook.id && <DeliveriesTable appId={appId} webhook={webhook} />}
            </li>
          ))}
        </ul>
      )}
      {issued && (
        <ShowSecretDialog
          shown={shownSecret(issued.secret, issued.webhook)}
          onClose={() => setIssued(undefined)}
        />
      )}
    </section>
  );
}

/** A webhook's last deliveries: status, attempts, last answer, and Redeliver. */
function DeliveriesTable({ appId, webhook }: { appId: string; webhook: Webhook }) {
  const [deliveries, setDeliveries] = useState<WebhookDelivery[] | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [status, setStatus] = useState("");

  const load = useCallback(async () => {
    try {
      setDeliveries((await api.listWebhookDeliveries(appId, webhook.id)).deliveries);
    } catch (e) {
      setError(describeError(e));
    }
  }, [appId, webhook.id]);
  useEffect(() => {
    void load();
  }, [load]);

  async function redeliver(delivery: WebhookDelivery) {
    try {
      await api.redeliverWebhook(appId, webhook.id, delivery.id);
      setStatus(`Delivery of ${delivery.type} queued again.`);
      await load();
    } catch (e) {
      setError(describeError(e));
    }
  }

  return (
    <div className="deliveries">
      <FormAlert error={error} />
      <div className="form-actions">
        <button type="button" className="button" onClick={() => void load()}>
          Refresh
        </button>
        {status && (
          <span className="save-status" role="status">
            {status}
          </span>
        )}
      </div>
      {deliveries && deliveries.length === 0 && <p className="empty">No deliveries yet.</p>}
      {deliveries && deliveries.length > 0 && (
        <div className="table-scroll">
          <table className="table" aria-label="Deliveries">
            <thead>
              <tr>
                <th scope="col">Event</th>
                <th scope="col">Created</th>
                <th scope="col">Status</th>
                <th scope="col">Attempts</th>
                <th scope="col">Last response</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {deliveries.map((d) => (
                <tr key={d.id} data-delivery-id={d.id}>
                  <td className="mono">{d.type}</td>
                  <td>{formatDate(new Date(d.createdAt))}</td>
                  <td data-testid="delivery-status">{d.status}</td>
                  <td data-testid="delivery-attempts">{d.attempts}</td>
                  <td>
                    {d.lastStatusCode ?? "—"}
                    {d.lastError ? ` (${d.lastError})` : ""}
                  </td>
                  <td>
                    <button type="button" className="button" onClick={() => void redeliver(d)}>
                      Redeliver
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
