import { type FormEvent, useId, useState } from "react";
import { ApiError, type Application, api, describeError } from "../api";
import { isHexColor } from "../branding";
import { describedBy, FieldError, FieldHint, FormAlert } from "./field";
import { BrandedFrame } from "./portal";
import "./application-settings.css";

const MAX_RETURN_ORIGINS = 20;
const DISPLAY_NAME_MAX_LENGTH = 100;
const DEFAULT_ACCENT = "#2446c7";

/** What a save did, said next to its button and to screen readers. */
function SavedStatus({ text }: { text: string }) {
  return (
    <span className="save-status" role="status">
      {text}
    </span>
  );
}

/** A refusal for want of a session, whose sign-in was put off: the form keeps what was typed. */
function isSessionEnd(e: unknown): boolean {
  return e instanceof ApiError && e.code === "authentication_required";
}

/**
 * Where a host may send its users back to: the origins a portal link's `returnUrl` may point
 * at, one per line. The server checks each (scheme, host and port only) and says what is
 * wrong, shown under the field.
 */
export function ReturnOriginsSection({
  app,
  onSaved,
}: {
  app: Application;
  onSaved: (app: Application) => void;
}) {
  const [text, setText] = useState(app.returnOrigins.join("\n"));
  const [error, setError] = useState<string | undefined>();
  const [formError, setFormError] = useState<string | undefined>();
  const [status, setStatus] = useState("");
  const [busy, setBusy] = useState(false);
  const id = useId();
  const fieldId = `${id}-origins`;

  async function save(event: FormEvent) {
    event.preventDefault();
    if (busy) return;
    const origins = text
      .split(/\r?\n/)
      .map((line) => line.trim())
      .filter(Boolean);
    setError(undefined);
    setFormError(undefined);
    setStatus("");
    if (origins.length > MAX_RETURN_ORIGINS) {
      setError(`List at most ${MAX_RETURN_ORIGINS} origins.`);
      return;
    }
    setBusy(true);
    try {
      const updated = await api.updateApplication(app.id, { returnOrigins: origins });
      // The server's spelling (lowercase host, no trailing slash) is what it will compare.
      setText(updated.returnOrigins.join("\n"));
      onSaved(updated);
      setStatus(
        updated.returnOrigins.length === 0 ? "Saved: no return origins." : "Return origins saved.",
      );
    } catch (e) {
      if (e instanceof ApiError && e.status === 400) {
        setError(e.detail);
        document.getElementById(fieldId)?.focus();
      } else if (isSessionEnd(e)) {
        setFormError("Your session has ended. Sign in again, then save again.");
      } else {
        setFormError(describeError(e));
      }
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="section" aria-labelledby={`${id}-heading`}>
      <div className="section-header">
        <h2 id={`${id}-heading`}>Return origins</h2>
        <p className="section-lede">
          When your backend opens a user&rsquo;s API tokens page, it may pass a return URL: the page
          then links back to it. The URL must be on one of these origins.
        </p>
      </div>
      <form className="card form" onSubmit={save}>
        <FormAlert error={formError} />
        <div className="field">
          <label htmlFor={fieldId}>Return origins</label>
          <textarea
            id={fieldId}
            name="returnOrigins"
            rows={4}
            spellCheck={false}
            autoComplete="off"
            className="mono origins-input"
            placeholder="https://app.example.com"
            value={text}
            aria-invalid={error ? true : undefined}
            aria-describedby={describedBy(fieldId, true, error)}
            onChange={(e) => {
              setText(e.target.value);
              setStatus("");
            }}
          />
          <FieldHint id={fieldId}>
            One per line, up to {MAX_RETURN_ORIGINS}: a scheme, host and optional port, with no
            path, e.g. <code>https://app.example.com</code>. Leave empty to allow none.
          </FieldHint>
          <FieldError id={fieldId} error={error} />
        </div>
        <div className="form-actions settings-actions">
          <button type="submit" className="button button-primary" aria-busy={busy}>
            Save return origins
          </button>
          <SavedStatus text={status} />
        </div>
      </form>
    </section>
  );
}

/**
 * How the host's users see their page: the host's name in the top bar and its accent colour
 * on buttons and the bar. Saved as a whole; removed in one step.
 */
export function BrandingSection({
  app,
  onSaved,
}: {
  app: Application;
  onSaved: (app: Application) => void;
}) {
  const [displayName, setDisplayName] = useState(app.branding?.displayName ?? "");
  const [accent, setAccent] = useState(app.branding?.accentColor ?? DEFAULT_ACCENT);
  const [errors, setErrors] = useState<{ name?: string; accent?: string; form?: string }>({});
  const [status, setStatus] = useState("");
  const [busy, setBusy] = useState(false);
  const id = useId();
  const nameId = `${id}-name`;
  const pickerId = `${id}-picker`;
  const hexId = `${id}-hex`;
  const validAccent = isHexColor(accent);

  async function save(event: FormEvent) {
    event.preventDefault();
    if (busy) return;
    const trimmed = displayName.trim();
    const next: typeof errors = {};
    if (!trimmed) next.name = "Enter the name your users know your product by.";
    else if ([...trimmed].length > DISPLAY_NAME_MAX_LENGTH) {
      next.name = `Use at most ${DISPLAY_NAME_MAX_LENGTH} characters.`;
    }
    if (!validAccent) next.accent = "Write the colour as # and six hex digits, e.g. #aa3300.";
    setErrors(next);
    setStatus("");
    if (next.name || next.accent) {
      document.getElementById(next.name ? nameId : hexId)?.focus();
      return;
    }
    await send({ displayName: trimmed, accentColor: accent.toLowerCase() }, "Branding saved.");
  }

  async function send(branding: { displayName: string; accentColor: string } | null, done: string) {
    setBusy(true);
    setErrors({});
    try {
      const updated = await api.updateApplication(app.id, { branding });
      onSaved(updated);
      if (updated.branding) {
        setDisplayName(updated.branding.displayName);
        setAccent(updated.branding.accentColor);
      } else {
        setDisplayName("");
        setAccent(DEFAULT_ACCENT);
      }
      setStatus(done);
    } catch (e) {
      if (e instanceof ApiError && e.status === 400) {
        if (/colou?r/i.test(e.detail)) setErrors({ accent: e.detail });
        else setErrors({ name: e.detail });
      } else if (isSessionEnd(e)) {
        setErrors({ form: "Your session has ended. Sign in again, then save again." });
      } else {
        setErrors({ form: describeError(e) });
      }
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="section" aria-labelledby={`${id}-heading`}>
      <div className="section-header">
        <h2 id={`${id}-heading`}>Branding</h2>
        <p className="section-lede">
          Your users reach their API tokens page from your product. Show them your name and colour
          there, so they know where they are.
        </p>
      </div>
      <form className="card form" onSubmit={save}>
        <FormAlert error={errors.form} />
        <div className="form-row">
          <div className="field field-grow">
            <label htmlFor={nameId}>Display name</label>
            <input
              id={nameId}
              name="displayName"
              autoComplete="off"
              maxLength={DISPLAY_NAME_MAX_LENGTH * 2}
              value={displayName}
              aria-invalid={errors.name ? true : undefined}
              aria-describedby={describedBy(nameId, true, errors.name)}
              onChange={(e) => {
                setDisplayName(e.target.value);
                setStatus("");
              }}
            />
            <FieldHint id={nameId}>Shown in the top bar and in “Back to …”.</FieldHint>
            <FieldError id={nameId} error={errors.name} />
          </div>
          <fieldset className="fieldset accent-field">
            <legend>Accent colour</legend>
            <div className="accent-inputs">
              <input
                id={pickerId}
                type="color"
                className="accent-picker"
                aria-label="Accent colour"
                value={validAccent ? accent.toLowerCase() : DEFAULT_ACCENT}
                onChange={(e) => {
                  setAccent(e.target.value);
                  setStatus("");
                }}
              />
              <div className="field">
                <label htmlFor={hexId} className="sr-only">
                  Accent colour, hex
                </label>
                <input
                  id={hexId}
                  name="accentColor"
                  className="mono accent-hex"
                  autoComplete="off"
                  spellCheck={false}
                  maxLength={7}
                  value={accent}
                  aria-invalid={errors.accent ? true : undefined}
                  aria-describedby={describedBy(hexId, false, errors.accent)}
                  onChange={(e) => {
                    setAccent(e.target.value.trim());
                    setStatus("");
                  }}
                />
              </div>
            </div>
            <FieldError id={hexId} error={errors.accent} />
          </fieldset>
        </div>
        <BrandingPreview name={displayName.trim() || app.name} accent={validAccent ? accent : ""} />
        <div className="form-actions settings-actions">
          <button type="submit" className="button button-primary" aria-busy={busy}>
            Save branding
          </button>
          {app.branding && (
            <button
              type="button"
              className="button"
              aria-busy={busy}
              onClick={() => void send(null, "Branding removed.")}
            >
              Remove branding
            </button>
          )}
          <SavedStatus text={status} />
        </div>
      </form>
    </section>
  );
}

/** A small picture of the host user's top bar and primary button in the chosen colours. */
function BrandingPreview({ name, accent }: { name: string; accent: string }) {
  return (
    <figure className="branding-preview">
      <figcaption className="muted">Preview</figcaption>
      <BrandedFrame accentColor={accent || undefined}>
        <div className="preview-bar">
          <span className="preview-mark" aria-hidden="true" />
          <bdi className="truncate preview-name" title={name}>
            {name}
          </bdi>
          <span className="button button-primary button-small preview-button" aria-hidden="true">
            Generate Token
          </span>
        </div>
      </BrandedFrame>
    </figure>
  );
}
