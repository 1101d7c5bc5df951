import { type ReactNode, type RefObject, useId, useLayoutEffect, useRef } from "react";
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
