// How the benchmark writes: progress lines on stderr, rounding of the reported numbers, and the
// plain-text tables printed on stdout. Shared by every mode, so all print alike.

export const log = (line: string): void => { process.stderr.write(`[bench] ${line}\n`) }
export const round1 = (n: number): number => Math.round(n * 10) / 10
export const round2 = (n: number): number => Math.round(n * 100) / 100
export const mb = (bytes: number): number => Math.round(bytes / 1048576)

/** Columns padded to their widest cell: the first left-aligned, the others right-aligned. */
export function table (rows: string[][]): string {
  const widths = (rows[0] ?? []).map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)))
  return rows.map((r) => r.map((cell, c) => c === 0 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0)).join('  ')).join('\n')
}
