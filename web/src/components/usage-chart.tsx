import { formatCount, formatDay, plural } from "../format";
import "./usage-chart.css";

/**
 * Daily requests as bars, with the numbers also in a table for screen readers and for
 * anyone who wants the exact values.
 */
export function UsageChart({ daily }: { daily: Array<{ date: string; requests: number }> }) {
  const width = 720;
  const height = 180;
  const top = 12;
  const bottom = 22;
  const left = 40;
  const plotHeight = height - top - bottom;
  const plotWidth = width - left;
  const max = Math.max(1, ...daily.map((d) => d.requests));
  const ceiling = niceCeiling(max);
  const slot = plotWidth / Math.max(1, daily.length);
  const barWidth = Math.max(2, slot * 0.7);
  const total = daily.reduce((sum, d) => sum + d.requests, 0);
  const first = daily[0];
  const last = daily.at(-1);
  const label = `Requests per day, ${first ? formatDay(first.date) : ""} to ${
    last ? formatDay(last.date) : ""
  }: ${plural(total, "request", "requests")} in total`;

  return (
    <figure className="usage-chart">
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label={label} className="usage-svg">
        <title>{label}</title>
        {[0, 0.5, 1].map((f) => {
          const y = top + plotHeight * (1 - f);
          return (
            <g key={f}>
              <line className="usage-grid" x1={left} x2={width} y1={y} y2={y} />
              <text className="usage-axis" x={left - 6} y={y + 4} textAnchor="end">
                {formatCount(Math.round(ceiling * f))}
              </text>
            </g>
          );
        })}
        {daily.map((d, i) => {
          const h = (d.requests / ceiling) * plotHeight;
          const x = left + i * slot + (slot - barWidth) / 2;
          return (
            <rect
              key={d.date}
              className={d.requests > 0 ? "usage-bar" : "usage-bar usage-bar-zero"}
              x={x}
              y={top + plotHeight - Math.max(h, d.requests > 0 ? 1.5 : 0.75)}
              width={barWidth}
              height={Math.max(h, d.requests > 0 ? 1.5 : 0.75)}
            >
              <title>{`${formatDay(d.date)}: ${plural(d.requests, "request", "requests")}`}</title>
            </rect>
          );
        })}
        {first && (
          <text className="usage-axis" x={left} y={height - 4}>
            {formatDay(first.date)}
          </text>
        )}
        {last && (
          <text className="usage-axis" x={width} y={height - 4} textAnchor="end">
            {formatDay(last.date)}
          </text>
        )}
      </svg>
      <details className="usage-table">
        <summary>Show as a table</summary>
        <table className="table table-compact">
          <caption className="sr-only">Requests per day (UTC)</caption>
          <thead>
            <tr>
              <th scope="col">Day (UTC)</th>
              <th scope="col" className="num">
                Requests
              </th>
            </tr>
          </thead>
          <tbody>
            {daily.map((d) => (
              <tr key={d.date}>
                <td>{d.date}</td>
                <td className="num">{formatCount(d.requests)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}

/** The axis top: 2, 4, 6, 8 or 10 times a power of ten, so the middle gridline is a whole number. */
function niceCeiling(max: number): number {
  const magnitude = 10 ** Math.floor(Math.log10(max));
  for (const step of [2, 4, 6, 8, 10]) {
    if (max <= step * magnitude) return step * magnitude;
  }
  return 10 * magnitude;
}
