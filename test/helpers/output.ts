// Reading what the app wrote: its log lines, and one sample of a Prometheus exposition.

/** Lines the app logged, parsed. */
export function parsedLogs (logs: string[]): Array<Record<string, unknown>> {
  return logs.map((line) => JSON.parse(line) as Record<string, unknown>)
}

/** One sample's value from a Prometheus exposition, or undefined when the series is absent. */
export function sample (exposition: string, series: string): number | undefined {
  const line = exposition.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}
