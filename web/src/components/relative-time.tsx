import { formatExact, formatRelative } from "../format";
import "./relative-time.css";

/**
 * "3 minutes ago", with the exact time on hover (title) and on keyboard focus (the same
 * text in a tooltip drawn by CSS, since browsers show titles for the mouse only).
 */
export function RelativeTime({ iso, now }: { iso: string; now: number }) {
  const exact = formatExact(iso);
  return (
    // biome-ignore lint/a11y/noNoninteractiveTabindex: focus is how keyboard users read the exact time.
    <time className="reltime" dateTime={iso} title={exact} data-exact={exact} tabIndex={0}>
      {formatRelative(iso, now)}
    </time>
  );
}
