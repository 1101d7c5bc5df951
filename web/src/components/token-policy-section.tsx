import { type FormEvent, useId, useState } from "react";
import { ApiError, type Application, api, describeError } from "../api";
import { describedBy, FieldError, FieldHint, FormAlert } from "./field";

const MAX_DAYS = 3650;

/** "" for no limit, else a whole number of days from 1 to 3650; undefined when invalid. */
function parseDays(text: string): number | null | undefined {
  const trimmed = text.trim();
  if (trimmed === "") return null;
  if (!/^\d+$/.test(trimmed)) return undefined;
  const days = Number(trimmed);
  return days >= 1 && days <= MAX_DAYS ? days : undefined;
}

/**
 * The application's token policy: a maximum lifetime for new and regenerated tokens, and
 * how long a token may go unused before it is revoked. Empty means no limit.
 */
export function TokenPolicySection({
  app,
  onSaved,
}: {
  app: Application;
  onSaved: (app: Application) => void;
}) {
  const [maxText, setMaxText] = useState(String(app.policy.maxLifetimeDays ?? ""));
  const [unusedText, setUnusedText] = useState(String(app.policy.revokeUnusedAfterDays ?? ""));
  const [errors, setErrors] = useState<{ max?: string; unused?: string; form?: string }>({});
  const [status, setStatus] = useState("");
  const [busy, setBusy] = useState(false);
  const id = useId();
  const maxId = `${id}-max`;
  const unusedId = `${id}-unused`;

  async function save(event: FormEvent) {
    event.preventDefault();
    if (busy) return;
    const maxLifetimeDays = parseDays(maxText);
    const revokeUnusedAfterDays = parseDays(unusedText);
    const problem = `A whole number of days from 1 to ${MAX_DAYS}, or empty for no limit.`;
    const found = {
      max: maxLifetimeDays === undefined ? problem : undefined,
      unused: revokeUnusedAfterDays === undefined ? problem : undefined,
    };
    setErrors(found);
    setStatus("");
    if (maxLifetimeDays === undefined || revokeUnusedAfterDays === undefined) return;
    setBusy(true);
    try {
      const updated = await api.updateApplication(app.id, {
        policy: { maxLifetimeDays, revokeUnusedAfterDays },
      });
      onSaved(updated);
      setStatus("Token policy saved.");
    } catch (e) {
      if (e instanceof ApiError && e.status === 400) setErrors({ form: e.detail });
      else setErrors({ form: describeError(e) });
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="section" aria-labelledby={`${id}-heading`}>
      <div className="section-header">
        <h2 id={`${id}-heading`}>Token policy</h2>
        <p className="section-lede">
          Limits on every token of this application. Existing tokens keep their expiry; new and
          regenerated ones must respect the maximum lifetime.
        </p>
      </div>
      <form className="card form" onSubmit={save}>
        <FormAlert error={errors.form} />
        <div className="field">
          <label htmlFor={maxId}>Maximum lifetime (days)</label>
          <input
            id={maxId}
            name="maxLifetimeDays"
            inputMode="numeric"
            autoComplete="off"
            value={maxText}
            aria-invalid={errors.max ? true : undefined}
            aria-describedby={describedBy(maxId, true, errors.max)}
            onChange={(e) => {
              setMaxText(e.target.value);
              setStatus("");
            }}
          />
          <FieldHint id={maxId}>
            New tokens must expire within this many days; &ldquo;No expiration&rdquo; is no longer
            offered. Empty: no limit.
          </FieldHint>
          <FieldError id={maxId} error={errors.max} />
        </div>
        <div className="field">
          <label htmlFor={unusedId}>Revoke tokens unused for (days)</label>
          <input
            id={unusedId}
            name="revokeUnusedAfterDays"
            inputMode="numeric"
            autoComplete="off"
            value={unusedText}
            aria-invalid={errors.unused ? true : undefined}
            aria-describedby={describedBy(unusedId, true, errors.unused)}
            onChange={(e) => {
              setUnusedText(e.target.value);
              setStatus("");
            }}
          />
          <FieldHint id={unusedId}>
            A token not used for this many days (or never used since its creation) is revoked,
            within an hour. Its owner sees the date a week ahead. Empty: never.
          </FieldHint>
          <FieldError id={unusedId} error={errors.unused} />
        </div>
        <div className="form-actions settings-actions">
          <button type="submit" className="button button-primary" aria-busy={busy}>
            Save token policy
          </button>
          {status && (
            <span className="save-status" role="status">
              {status}
            </span>
          )}
        </div>
      </form>
    </section>
  );
}
