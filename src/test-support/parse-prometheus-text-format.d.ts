// parse-prometheus-text-format ships no types; this is the shape its README documents.
declare module "parse-prometheus-text-format" {
  interface PrometheusSample {
    value?: string;
    labels?: Record<string, string>;
    buckets?: Record<string, string>;
    count?: string;
    sum?: string;
  }
  interface PrometheusFamily {
    name: string;
    help: string;
    type: "COUNTER" | "GAUGE" | "HISTOGRAM" | "SUMMARY" | "UNTYPED";
    metrics: PrometheusSample[];
  }
  // A CommonJS module whose `module.exports` is the function.
  function parsePrometheusTextFormat(text: string): PrometheusFamily[];
  namespace parsePrometheusTextFormat {
    export type { PrometheusFamily, PrometheusSample };
  }
  export = parsePrometheusTextFormat;
}
