import { type FormEvent, useState } from "react";
import { describeError } from "../api";

/**
 * The submission of a form whose failures belong to one field (a password, a code): busy
 * while the request runs, so a second submit does nothing; on a failure the error shown at
 * that field, which takes the focus again. On success `busy` stays set: the form is done
 * and is about to be closed or replaced, and must not be sent twice meanwhile.
 */
export function useFieldSubmit(
  /** The field's element id. */
  fieldId: string,
  action: () => Promise<void>,
  /** The field's own wording for an error the server gives (a wrong code), if any. */
  explain: (error: unknown) => string | undefined,
) {
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(undefined);
    try {
      await action();
    } catch (e) {
      setBusy(false);
      setError(explain(e) ?? describeError(e));
      document.getElementById(fieldId)?.focus();
    }
  }

  return { busy, error, submit };
}
