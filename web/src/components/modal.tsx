import { type ReactNode, type RefObject, useId, useLayoutEffect, useRef, useState } from "react";
import { describeError } from "../api";
import { FormAlert } from "./field";
import "./modal.css";

interface ModalProps {
  title: ReactNode;
  /** Escape, or the browser closing the dialog on its own; the owner decides what happens. */
  onDismiss: () => void;
  children: ReactNode;
  /** Receives focus on open; otherwise the first control marked `data-autofocus`. */
  initialFocus?: RefObject<HTMLElement | null>;
  /** Where focus goes on close when the control that opened the dialog is gone. */
  returnFocus?: () => HTMLElement | null;
  size?: "small" | "medium";
  tone?: "default" | "danger";
}

/**
 * A modal on the native <dialog> with showModal(): the rest of the page is inert (focus is
 * trapped), Escape asks the owner to close, and focus returns to the opener afterwards.
 * Mounted means open.
 */
export function Modal({
  title,
  onDismiss,
  children,
  initialFocus,
  returnFocus,
  size = "medium",
  tone = "default",
}: ModalProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const mounted = useRef(false);
  const dismiss = useRef(onDismiss);
  dismiss.current = onDismiss;
  const fallbackFocus = useRef(returnFocus);
  fallbackFocus.current = returnFocus;

  useLayoutEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    mounted.current = true;
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    dialog.showModal();
    const target =
      initialFocus?.current ?? dialog.querySelector<HTMLElement>("[data-autofocus]") ?? null;
    target?.focus();
    return () => {
      mounted.current = false;
      if (dialog.open) dialog.close();
      // After the commit that unmounted us: the opener may be gone with it (a revoked row
      // loses its Revoke button), and then focus goes to the fallback instead of the body.
      queueMicrotask(() => {
        const back = opener?.isConnected ? opener : (fallbackFocus.current?.() ?? null);
        back?.focus();
      });
    };
    // Runs once per opening: the dialog's content changes must not re-open it.
  }, [initialFocus]);

  return (
    <dialog
      ref={ref}
      className={`modal modal-${size} modal-${tone}`}
      aria-labelledby={titleId}
      onCancel={(event) => {
        // Escape: never close behind the owner's back (the show-once dialog must be able to
        // ask first); the owner unmounts us when it agrees. A cancel that cannot be prevented
        // (a repeated Escape without user activation) is followed by `close`, handled below.
        if (!event.cancelable) return;
        event.preventDefault();
        dismiss.current();
      }}
      onClose={() => {
        // The browser closed the dialog on its own; while we are mounted the owner has not
        // agreed, so reopen and ask it instead.
        const dialog = ref.current;
        if (mounted.current && dialog && !dialog.open) {
          dialog.showModal();
          dismiss.current();
        }
      }}
    >
      <div className="modal-body">
        <h2 id={titleId} className="modal-title">
          {title}
        </h2>
        {children}
      </div>
    </dialog>
  );
}

/**
 * Asks before one action (revoke, remove, regenerate): runs it on the confirming button, stays
 * busy until it settles, and shows its failure in place so the choice can be retried. A
 * dangerous action starts on Cancel.
 */
export function ConfirmDialog({
  title,
  confirmLabel,
  onConfirm,
  onCancel,
  children,
  tone = "default",
  returnFocus,
}: {
  title: ReactNode;
  confirmLabel: string;
  onConfirm: () => Promise<void>;
  onCancel: () => void;
  children: ReactNode;
  tone?: "default" | "danger";
  returnFocus?: () => HTMLElement | null;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const danger = tone === "danger";

  const confirm = async () => {
    if (busy) return;
    setBusy(true);
    setError(undefined);
    try {
      await onConfirm();
    } catch (e) {
      setBusy(false);
      setError(describeError(e));
    }
  };

  return (
    <Modal title={title} onDismiss={onCancel} size="small" tone={tone} returnFocus={returnFocus}>
      <div className="stack">
        {children}
        <FormAlert error={error} />
        <div className="modal-actions">
          <button
            type="button"
            className="button"
            onClick={onCancel}
            data-autofocus={danger ? true : undefined}
          >
            Cancel
          </button>
          <button
            type="button"
            className={danger ? "button button-danger" : "button button-primary"}
            onClick={() => void confirm()}
            aria-busy={busy}
          >
            {confirmLabel}
          </button>
        </div>
      </div>
    </Modal>
  );
}
