import { type FormEvent, useEffect, useId, useRef, useState } from "react";
import { ApiError, type Application, api, describeError } from "../api";
import { DAY_MS, formatDate, localDateInputValue } from "../format";
import { describedBy, FieldError, FieldHint, FormAlert } from "./field";
import type { Issued } from "./token-dialogs";
import "./create-token-form.css";

const EXPIRY_CHOICES = [
  { value: "7", label: "7 days" },
  { value: "30", label: "30 days" },
  { value: "60", label: "60 days" },
  { value: "90", label: "90 days" },
  { value: "custom", label: "Custom date…" },
  { value: "never", label: "No expiration" },
] as const;
type ExpiryChoice = (typeof EXPIRY_CHOICES)[number]["value"];

const NAME_MAX_LENGTH = 100;

interface Errors {
  name?: string;
  expiry?: string;
  scopes?: string;
  form?: string;
}

/** Values to start a new token from (a replacement for one about to expire). */
export interface TokenPrefill {
  name: string;
  scopes: string[];
  /** Changes with every request, so asking twice for the same token prefills twice. */
  nonce: number;
}

/** Token name, expiry and scopes, then Generate Token; errors sit next to the field they concern. */
export function CreateTokenForm({
  app,
  onIssued,
  prefill,
}: {
  app: Application;
  onIssued: (issued: Issued) => void;
  prefill?: TokenPrefill;
}) {
  const [name, setName] = useState("");
  const [expiry, setExpiry] = useState<ExpiryChoice>("30");
  const [date, setDate] = useState("");
  const [scopes, setScopes] = useState<string[]>([]);
  const [errors, setErrors] = useState<Errors>({});
  const busy = useRef(false);
  const [pending, setPending] = useState(false);
  const nameRef = useRef<HTMLInputElement>(null);
  const id = useId();
  const nameId = `${id}-name`;
  const expiryId = `${id}-expiry`;
  const dateId = `${id}-date`;

  const tomorrow = new Date(Date.now() + DAY_MS);

  useEffect(() => {
    if (!prefill) return;
    setName(prefill.name);
    setScopes(prefill.scopes.filter((scope) => app.scopes.includes(scope)));
    setExpiry("30");
    setErrors({});
    nameRef.current?.focus();
    nameRef.current?.scrollIntoView({ block: "center" });
  }, [prefill, app.scopes]);

  function expiresAt(): string | null | { error: string } {
    if (expiry === "never") return null;
    if (expiry === "custom") {
      if (!date) return { error: "Pick the day the token stops working." };
      // The end of the chosen day, in the user's own time zone.
      const end = new Date(`${date}T23:59:59`);
      if (Number.isNaN(end.getTime()) || end.getTime() <= Date.now()) {
        return { error: "Pick a day in the future." };
      }
      return end.toISOString();
    }
    return new Date(Date.now() + Number(expiry) * DAY_MS).toISOString();
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (busy.current) return;
    const trimmed = name.trim();
    if (!trimmed) {
      setErrors({ name: "Enter a name that says where the token is used." });
      nameRef.current?.focus();
      return;
    }
    if ([...trimmed].length > NAME_MAX_LENGTH) {
      setErrors({ name: `Use at most ${NAME_MAX_LENGTH} characters.` });
      nameRef.current?.focus();
      return;
    }
    const expires = expiresAt();
    if (expires !== null && typeof expires === "object") {
      setErrors({ expiry: expires.error });
      document.getElementById(dateId)?.focus();
      return;
    }
    busy.current = true;
    setPending(true);
    setErrors({});
    try {
      const response = await api.createToken(app.id, {
        name: trimmed,
        ...(scopes.length > 0 ? { scopes } : {}),
        expiresAt: expires,
      });
      setName("");
      setScopes([]);
      onIssued({ ...response, kind: "created" });
    } catch (e) {
      const message = describeError(e);
      if (e instanceof ApiError && e.code === "token_name_taken") {
        setErrors({
          name: `You already have an active token named “${trimmed}”. Choose another name, or revoke the old token first.`,
        });
        nameRef.current?.focus();
      } else if (e instanceof ApiError && e.code === "token_limit_reached") {
        setErrors({ name: message });
        nameRef.current?.focus();
      } else if (e instanceof ApiError && e.code === "validation_failed") {
        if (/expires/i.test(message)) setErrors({ expiry: message });
        else if (/scope/i.test(message)) setErrors({ scopes: message });
        else {
          setErrors({ name: message });
          nameRef.current?.focus();
        }
      } else {
        setErrors({ form: message });
      }
    } finally {
      busy.current = false;
      setPending(false);
    }
  }

  const preview =
    expiry === "never"
      ? undefined
      : expiry === "custom"
        ? date
          ? `Stops working at the end of ${formatDate(new Date(`${date}T23:59:59`))}.`
          : "Pick a day."
        : `Stops working on ${formatDate(new Date(Date.now() + Number(expiry) * DAY_MS))}.`;

  return (
    <form className="form create-token" onSubmit={submit} aria-labelledby={`${id}-heading`}>
      <h3 id={`${id}-heading`} className="card-title">
        Create a token
      </h3>
      <FormAlert error={errors.form} />
      <div className="form-row">
        <div className="field field-grow">
          <label htmlFor={nameId}>Token name</label>
          <input
            ref={nameRef}
            id={nameId}
            name="name"
            autoComplete="off"
            required
            // The rule counts characters (code points), which maxLength does not: checked on submit.
            maxLength={NAME_MAX_LENGTH * 2}
            value={name}
            aria-invalid={errors.name ? true : undefined}
            aria-describedby={describedBy(nameId, true, errors.name)}
            onChange={(e) => setName(e.target.value)}
          />
          <FieldHint id={nameId}>
            Say where it is used, e.g. “CI deploy” or “Billing worker”.
          </FieldHint>
          <FieldError id={nameId} error={errors.name} />
        </div>
        <div className="field">
          <label htmlFor={expiryId}>Expiration</label>
          <select
            id={expiryId}
            name="expiry"
            value={expiry}
            aria-describedby={preview ? `${expiryId}-hint` : undefined}
            onChange={(e) => {
              setExpiry(e.target.value as ExpiryChoice);
              setErrors((prev) => ({ ...prev, expiry: undefined }));
            }}
          >
            {EXPIRY_CHOICES.map((choice) => (
              <option key={choice.value} value={choice.value}>
                {choice.label}
              </option>
            ))}
          </select>
          {preview && <FieldHint id={expiryId}>{preview}</FieldHint>}
        </div>
        {expiry === "custom" && (
          <div className="field">
            <label htmlFor={dateId}>Expiration date</label>
            <input
              id={dateId}
              type="date"
              name="expiresOn"
              required
              min={localDateInputValue(tomorrow)}
              value={date}
              aria-invalid={errors.expiry ? true : undefined}
              aria-describedby={describedBy(dateId, false, errors.expiry)}
              onChange={(e) => setDate(e.target.value)}
            />
            <FieldError id={dateId} error={errors.expiry} />
          </div>
        )}
      </div>
      {expiry !== "custom" && <FieldError id={expiryId} error={errors.expiry} />}
      <div aria-live="polite">
        {expiry === "never" && (
          <div className="callout callout-warning" id={`${expiryId}-warning`}>
            <strong>This token will never expire.</strong> If it leaks, it works until someone
            notices and revokes it. Prefer an expiry and regenerate the token when it is due.
          </div>
        )}
      </div>
      {app.scopes.length > 0 && (
        <fieldset
          className="fieldset"
          aria-describedby={describedBy(`${id}-scopes`, true, errors.scopes)}
        >
          <legend>Scopes</legend>
          <p className="field-hint" id={`${id}-scopes-hint`}>
            Grant only what this token needs. With none selected it can call unscoped routes only.
          </p>
          <div className="scope-grid">
            {app.scopes.map((scope) => (
              <label key={scope} className="checkbox">
                <input
                  type="checkbox"
                  name="scopes"
                  value={scope}
                  checked={scopes.includes(scope)}
                  onChange={(e) =>
                    setScopes((prev) =>
                      e.target.checked ? [...prev, scope] : prev.filter((s) => s !== scope),
                    )
                  }
                />
                <span className="mono">{scope}</span>
              </label>
            ))}
          </div>
          <FieldError id={`${id}-scopes`} error={errors.scopes} />
        </fieldset>
      )}
      <div className="form-actions">
        <button type="submit" className="button button-primary" aria-busy={pending}>
          Generate Token
        </button>
      </div>
    </form>
  );
}
