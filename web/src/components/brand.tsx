import { useEffect, useRef } from "react";

/** Sets the tab title and moves focus to the page heading, so a screen reader hears the new page. */
export function usePageHeading(title: string) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${title} · Keyward`;
  }, [title]);
  useEffect(() => {
    ref.current?.focus({ preventScroll: true });
  }, []);
  return ref;
}

/** Keyward's mark and name; on a host user's pages, the host's name beside the mark. */
export function Brand({ name }: { name?: string }) {
  return (
    <span className="brand">
      <svg className="brand-mark" viewBox="0 0 32 32" aria-hidden="true" width="24" height="24">
        <rect width="32" height="32" rx="7" />
        <circle cx="12" cy="16" r="5" />
        <path d="M17 16h10m-4 0v5m3-5v3" />
      </svg>
      {name === undefined ? (
        <span className="brand-name">Keyward</span>
      ) : (
        <bdi className="brand-name truncate" title={name}>
          {name}
        </bdi>
      )}
    </span>
  );
}
