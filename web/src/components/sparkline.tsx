import { formatCount, formatDay, plural } from "../format";
import "./sparkline.css";

/** Requests per day as a small line, drawn by hand: 30 points need no chart library. */
export function Sparkline({
  daily,
  width = 112,
  height = 28,
}: {
  daily: Array<{ date: string; requests: number }>;
  width?: number;
  height?: number;
}) {
  const total = daily.reduce((sum, d) => sum + d.requests, 0);
  const max = Math.max(1, ...daily.map((d) => d.requests));
  const step = daily.length > 1 ? width / (daily.length - 1) : width;
  const pad = 2;
  const points = daily.map((d, i) => {
    const x = i * step;
    const y = height - pad - (d.requests / max) * (height - pad * 2);
    return `${x.toFixed(1)},${y.toFixed(1)}`;
  });
  const line = points.join(" ");
  const area = `0,${height} ${line} ${width},${height}`;
  const peak = daily.reduce<{ date: string; requests: number } | undefined>(
    (best, d) => (d.requests > (best?.requests ?? 0) ? d : best),
    undefined,
  );
  const label =
    total === 0
      ? `No requests in the last ${daily.length} days`
      : `${plural(total, "request", "requests")} in the last ${daily.length} days` +
        (peak ? `, most on ${formatDay(peak.date)} (${formatCount(peak.requests)})` : "");
  return (
    <svg
      className={total === 0 ? "sparkline sparkline-empty" : "sparkline"}
      width={width}
      height={height}
      viewBox={`0 0 ${width} ${height}`}
      role="img"
      aria-label={label}
    >
      <title>{label}</title>
      {total > 0 && <polygon className="sparkline-area" points={area} />}
      <polyline className="sparkline-line" points={line} fill="none" />
    </svg>
  );
}
