import type { ReactNode } from "react";
import "./field.css";

/** The id scheme that ties a field to its hint and error (aria-describedby). */
export function describedBy(id: string, hint: boolean, error: string | undefined) {
  const ids = [hint ? `${id}-hint` : "", error ? `${id}-error` : ""].filter(Boolean).join(" ");
  return ids || undefined;
}

export function FieldHint({ id, children }: { id: string; children: ReactNode }) {
  return (
    <p id={`${id}-hint`} className="field-hint">
      {children}
    </p>
  );
}

/** An error shown next to its field, announced when it appears. */
export function FieldError({ id, error }: { id: string; error: string | undefined }) {
  if (!error) return null;
  return (
    <p id={`${id}-error`} className="field-error" role="alert">
      <span aria-hidden="true" className="field-error-icon">
        !
      </span>
      {error}
    </p>
  );
}

export function FormAlert({ error }: { error: string | undefined }) {
  if (!error) return null;
  return (
    <div className="callout callout-danger" role="alert">
      {error}
    </div>
  );
}
