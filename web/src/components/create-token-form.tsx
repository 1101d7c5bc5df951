import { type FormEvent, useEffect, useId, useRef, useState } from "react";
import { ApiError, type ApiToken, type Application, api, describeError } from "../api";
import { DAY_MS, formatDate, localDateInputValue } from "../format";
import { describedBy, FieldError, FieldHint, FormAlert } from "./field";
import { type LostCreate, LostCreateNotice } from "./lost-create-notice";
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
type ExpiryChoice = string;

/**
 * The expiry choices an application's policy allows: with a maximum lifetime, the fixed
 * choices within it (the maximum itself when none is), a custom date, and never "never".
 */
export function expiryChoicesFor(
  maxLifetimeDays: number | null,
): ReadonlyArray<{ value: string; label: string }> {
  if (maxLifetimeDays === null) return EXPIRY_CHOICES;
  const fixed: Array<{ value: string; label: string }> = EXPIRY_CHOICES.filter(
    (c) => /^\d+$/.test(c.value) && Number(c.value) <= maxLifetimeDays,
  ).map((c) => ({ value: c.value, label: c.label }));
  if (fixed.length === 0) {
    fixed.push({ value: String(maxLifetimeDays), label: `${maxLifetimeDays} days` });
  }
  return [...fixed, { value: "custom", label: "Custom date…" }];
}

/** The choice a new form starts on: 30 days when allowed, else the longest allowed. */
function defaultExpiry(maxLifetimeDays: number | null): string {
  if (maxLifetimeDays === null || maxLifetimeDays >= 30) return "30";
  const fixed = expiryChoicesFor(maxLifetimeDays).filter((c) => c.value !== "custom");
  return fixed.at(-1)?.value ?? "custom";
}

const NAME_MAX_LENGTH = 100;

interface Errors {
  name?: string;
  expiry?: string;
  scopes?: string;
  addresses?: string;
  form?: string;
}

type CreateBody = Parameters<typeof api.createToken>[1];

/** A create of a token whose answer never arrived; see `LostCreate`. */
type LostTokenCreate = LostCreate<CreateBody, ApiToken>;

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
  onListStale,
  prefill,
}: {
  app: Application;
  onIssued: (issued: Issued) => void;
  /** The token list may have changed behind the section's back (a create whose answer was lost). */
  onListStale?: () => void;
  prefill?: TokenPrefill;
}) {
  const [name, setName] = useState("");
  const maxLifetimeDays = app.policy.maxLifetimeDays;
  const choices = expiryChoicesFor(maxLifetimeDays);
  const [expiry, setExpiry] = useState<ExpiryChoice>(() => defaultExpiry(maxLifetimeDays));
  // A policy set meanwhile (another tab) may rule out the current choice.
  useEffect(() => {
    if (!expiryChoicesFor(maxLifetimeDays).some((c) => c.value === expiry)) {
      setExpiry(defaultExpiry(maxLifetimeDays));
    }
  }, [maxLifetimeDays, expiry]);
  const [date, setDate] = useState("");
  const [scopes, setScopes] = useState<string[]>([]);
  const [addresses, setAddresses] = useState("");
  const [errors, setErrors] = useState<Errors>({});
  const [lost, setLost] = useState<LostTokenCreate | undefined>();
  const busy = useRef(false);
  const [pending, setPending] = useState(false);
  const nameRef = useRef<HTMLInputElement>(null);
  const id = useId();
  const nameId = `${id}-name`;
  const expiryId = `${id}-expiry`;
  const dateId = `${id}-date`;
  const addressesId = `${id}-addresses`;

  const tomorrow = new Date(Date.now() + DAY_MS);

  useEffect(() => {
    if (!prefill) return;
    setName(prefill.name);
    setScopes(prefill.scopes.filter((scope) => app.scopes.includes(scope)));
    setExpiry(defaultExpiry(maxLifetimeDays));
    setErrors({});
    nameRef.current?.focus();
    nameRef.current?.scrollIntoView({ block: "center" });
  }, [prefill, app.scopes, maxLifetimeDays]);

  function expiresAt(): string | null | { error: string } {
    if (expiry === "never") return null;
    if (expiry === "custom") {
      if (!date) return { error: "Pick the day the token stops working." };
      // The end of the chosen day, in the user's own time zone.
      const end = new Date(`${date}T23:59:59`);
      if (Number.isNaN(end.getTime()) || end.getTime() <= Date.now()) {
        return { error: "Pick a day in the future." };
      }
      if (maxLifetimeDays !== null && end.getTime() > Date.now() + maxLifetimeDays * DAY_MS) {
        return {
          error: `This application's tokens must expire within ${maxLifetimeDays} days; pick an earlier day.`,
        };
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
    const allowedAddresses = addresses.split(/[\s,]+/).filter((entry) => entry !== "");
    await send({
      name: trimmed,
      ...(scopes.length > 0 ? { scopes } : {}),
      ...(allowedAddresses.length > 0 ? { allowedAddresses } : {}),
      expiresAt: expires,
    });
  }

  async function send(body: CreateBody, before?: () => Promise<void>) {
    if (busy.current) return;
    busy.current = true;
    setPending(true);
    setErrors({});
    setLost(undefined);
    try {
      await before?.();
      const response = await api.createToken(app.id, body);
      setName("");
      setScopes([]);
      setAddresses("");
      onIssued({ ...response, kind: "created" });
    } catch (e) {
      showFailure(e, body);
    } finally {
      busy.current = false;
      setPending(false);
    }
  }

  function showFailure(e: unknown, body: CreateBody) {
    const message = describeError(e);
    if (e instanceof ApiError && e.code === "network_error") {
      void findLostToken(body);
    } else if (e instanceof ApiError && e.code === "authentication_required") {
      // The sign-in was put off; what was typed stays, ready to send again.
      setErrors({
        form: "Your session has ended. Sign in again, then press Generate Token again.",
      });
    } else if (e instanceof ApiError && e.code === "token_name_taken") {
      setErrors({
        name: `You already have an active token named “${body.name}”. Choose another name, or revoke the old token first.`,
      });
      nameRef.current?.focus();
    } else if (e instanceof ApiError && e.code === "token_limit_reached") {
      setErrors({ name: message });
      nameRef.current?.focus();
    } else if (e instanceof ApiError && e.code === "validation_failed") {
      if (/expires/i.test(message)) setErrors({ expiry: message });
      else if (/allowedAddresses/.test(message)) setErrors({ addresses: message });
      else if (/scope/i.test(message)) setErrors({ scopes: message });
      else {
        setErrors({ name: message });
        nameRef.current?.focus();
      }
    } else {
      setErrors({ form: message });
    }
  }

  /**
   * No answer came back, but the request may have reached the server. Names are unique among
   * a user's active tokens and the create was not refused as taken, so an active token of
   * this name in the list now is the one this request created.
   */
  async function findLostToken(body: CreateBody) {
    setLost({ state: "checking", request: body });
    onListStale?.();
    try {
      const { tokens } = await api.listTokens(app.id, false);
      const token = tokens.find((t) => t.name === body.name && t.status === "active");
      setLost(
        token
          ? { state: "found", request: body, created: token }
          : { state: "absent", request: body },
      );
    } catch {
      setLost({ state: "unknown", request: body });
    }
  }

  /** Revokes the token whose secret was lost and creates its replacement, as one step. */
  function revokeAndCreate(token: ApiToken, body: CreateBody) {
    void send(body, async () => {
      await api.revokeToken(app.id, token.id);
      onListStale?.();
    });
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
      {lost && (
        <LostCreateNotice
          name={lost.request.name}
          lost={lost}
          pending={pending}
          whereListed="It is in your token list."
          copyable="a secret"
          onRevokeAndCreate={(token) => revokeAndCreate(token, lost.request)}
          onRetry={() => void send(lost.request)}
          onCheckAgain={() => void findLostToken(lost.request)}
        />
      )}
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
            {choices.map((choice) => (
              <option key={choice.value} value={choice.value}>
                {choice.label}
              </option>
            ))}
          </select>
          {preview && <FieldHint id={expiryId}>{preview}</FieldHint>}
          {maxLifetimeDays !== null && (
            <p className="field-hint" id={`${expiryId}-policy`} data-testid="expiry-policy">
              This application&rsquo;s policy: tokens expire within {maxLifetimeDays} days, so
              longer choices and &ldquo;No expiration&rdquo; are not offered.
            </p>
          )}
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
              max={
                maxLifetimeDays === null
                  ? undefined
                  : localDateInputValue(new Date(Date.now() + maxLifetimeDays * DAY_MS - DAY_MS))
              }
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
      <div className="field">
        <label htmlFor={addressesId}>Allowed addresses (optional)</label>
        <input
          id={addressesId}
          name="allowedAddresses"
          autoComplete="off"
          spellCheck={false}
          value={addresses}
          aria-invalid={errors.addresses ? true : undefined}
          aria-describedby={describedBy(addressesId, true, errors.addresses)}
          onChange={(e) => {
            setAddresses(e.target.value);
            setErrors((prev) => ({ ...prev, addresses: undefined }));
          }}
        />
        <FieldHint id={addressesId}>
          Up to 20 IP addresses or ranges, e.g. “203.0.113.7, 10.0.0.0/8”. From anywhere else the
          token is refused. Empty: any address.
        </FieldHint>
        <FieldError id={addressesId} error={errors.addresses} />
      </div>
      {/* Just above the button that was pressed: at the top of a long form it would be off
          screen on a phone, where focus stays on the button. */}
      <FormAlert error={errors.form} />
      <div className="form-actions">
        <button type="submit" className="button button-primary" aria-busy={pending}>
          Generate Token
        </button>
      </div>
    </form>
  );
}
