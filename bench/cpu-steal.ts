// CPU time the hypervisor gave to other guests ("steal"), from /proc/stat, over a stretch of the
// benchmark. On a shared virtual machine it is the main reason two runs of the same code differ,
// so the report prints it next to the load average. null where /proc/stat is unavailable.
import { readFileSync } from 'node:fs'

export interface CpuTimes { steal: number, total: number }

/** The aggregate `cpu` line of /proc/stat: user nice system idle iowait irq softirq steal … */
export function readCpuTimes (): CpuTimes | null {
  let text: string
  try {
    text = readFileSync('/proc/stat', 'utf8')
  } catch {
    return null
  }
  const fields = (text.split('\n')[0] ?? '').trim().split(/\s+/).slice(1, 9).map(Number)
  if (fields.length < 8 || fields.some((n) => !Number.isFinite(n))) return null
  return { steal: fields[7] as number, total: fields.reduce((a, b) => a + b, 0) }
}

/** Percentage of all CPU time stolen between two readings; null if either is missing. */
export function stealPercent (before: CpuTimes | null, after: CpuTimes | null): number | null {
  if (before === null || after === null || after.total <= before.total) return null
  return Math.round(1000 * (after.steal - before.steal) / (after.total - before.total)) / 10
}
