// Reading what the app wrote: its log lines, and one sample of a Prometheus exposition.

/** Lines the app logged, parsed; `Line` names the fields a test reads. */
export function parsedLogs<Line = Record<string, unknown>> (logs: readonly string[]): Line[] {
  return logs.map((line) => JSON.parse(line) as Line)
}

/** One sample's value from a Prometheus exposition, or undefined when the series is absent. */
export function sample (exposition: string, series: string): number | undefined {
  const line = exposition.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}
