// One measured load run with autocannon at its default options (100 connections, no
// pipelining, keep-alive): ramp-up and warm-up on the same connections, then a fixed window
// whose every response is recorded (completion time, latency, status), so that requests/s,
// p50, p99 and max are exact over the window, time buckets can be compared (the
// refresh-under-load scenario), and the server's CPU time per request is known. Only responses
// with the expected status count as throughput. autocannon's own histogram rounds to whole ms.
import { performance } from 'node:perf_hooks'
import autocannon, { type AutocannonRequest } from 'autocannon'

export interface LoadSpec {
  url: string
  connections: number
  durationS: number
  warmupS: number
  /** Requests cycled by every connection (autocannon `requests`). */
  requests: AutocannonRequest[]
  /** A 2xx: every response should be a 2xx. Another status: every response should be exactly it. */
  expectStatus: number
  /** The server process's CPU time so far (µs), read at the start and end of the window. */
  cpuUs?: () => Promise<number>
}

export interface LoadStats {
  /** Responses in the window, whatever their status. */
  requests: number
  /** Responses with the expected status (2xx, or the bad-key row's 401) per second: the throughput. */
  rps: number
  /** Latencies of every response in the window. */
  p50Ms: number
  p99Ms: number
  maxMs: number
  /** Responses in the window with a status outside 200–299. */
  non2xx: number
  /** Connection errors and timeouts over the whole run (autocannon counts them). */
  errors: number
  /** Responses with another status than expected, plus connection errors and timeouts. */
  unexpected: number
  statuses: Record<string, number>
  /**
   * Server CPU time per response (µs): far less sensitive than req/s to other load on the
   * machine, so the robust way to compare variants. NaN when not measured.
   */
  cpuUsPerRequest: number
}

export interface LoadRun extends LoadStats {
  /** From the start until every connection had a response (NaN: not all did within RAMP_CAP_MS). */
  rampMs: number
  /** performance.now() at the start and end of the measured window. */
  startedAt: number
  endedAt: number
  /** Completion times (performance.now()) and latencies (ms) of every response in the window. */
  doneAt: Float64Array
  latencyMs: Float64Array
}

/** Latencies in ms → p50/p99/max, nearest-rank on the sorted values. */
export function percentiles (latencies: Float64Array): { p50Ms: number, p99Ms: number, maxMs: number } {
  if (latencies.length === 0) return { p50Ms: 0, p99Ms: 0, maxMs: 0 }
  const sorted = Float64Array.from(latencies).sort()
  const rank = (p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] as number
  return { p50Ms: rank(0.5), p99Ms: rank(0.99), maxMs: sorted[sorted.length - 1] as number }
}

export function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] as number : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

class Recorder {
  doneAt: Float64Array = new Float64Array(1 << 16)
  latencyMs: Float64Array = new Float64Array(1 << 16)
  length = 0

  push (at: number, latency: number): void {
    if (this.length === this.doneAt.length) {
      const grow = (a: Float64Array): Float64Array => { const b = new Float64Array(a.length * 2); b.set(a); return b }
      this.doneAt = grow(this.doneAt)
      this.latencyMs = grow(this.latencyMs)
    }
    this.doneAt[this.length] = at
    this.latencyMs[this.length] = latency
    this.length++
  }
}

/** Whether a status is what the row expects: any 2xx when it expects a 2xx, else exactly it. */
export function isExpected (status: number, expectStatus: number): boolean {
  const is2xx = (n: number): boolean => n >= 200 && n < 300
  return is2xx(expectStatus) ? is2xx(status) : status === expectStatus
}

/**
 * Longest wait for every connection's first response. libuv accepts one connection per event-loop
 * iteration, so a saturated server takes a while to accept 100 new connections; a window that
 * started at once would measure that ramp, not the steady state.
 */
export const RAMP_CAP_MS = 20_000

/**
 * One autocannon run: connect and ramp up until every connection has had a response, warm up
 * for `warmupS`, then measure for `durationS` (CPU time read at both ends of the window), then
 * stop. Only responses inside the window are recorded.
 */
export async function runLoad (spec: LoadSpec): Promise<LoadRun> {
  const recorder = new Recorder()
  const statuses: Record<string, number> = {}
  const seen = new Set<unknown>()
  const began = performance.now()
  let startedAt = Infinity
  let endAt = Infinity
  let rampMs = NaN
  let cpuStart: Promise<number> | undefined
  let cpuEnd: Promise<number> | undefined
  const timers: NodeJS.Timeout[] = []

  const instance = autocannon({
    url: spec.url,
    connections: spec.connections,
    // An upper bound only: the run is stopped once the window has passed.
    duration: Math.ceil((RAMP_CAP_MS / 1000) + spec.warmupS + spec.durationS + 5),
    requests: spec.requests
  })
  const startWindow = (): void => {
    if (startedAt !== Infinity) return
    if (seen.size >= spec.connections) rampMs = performance.now() - began
    startedAt = performance.now() + spec.warmupS * 1000
    endAt = startedAt + spec.durationS * 1000
    timers.push(setTimeout(() => { cpuStart = spec.cpuUs?.() }, spec.warmupS * 1000))
    timers.push(setTimeout(() => {
      cpuEnd = spec.cpuUs?.()
      instance.stop()
    }, (spec.warmupS + spec.durationS) * 1000))
  }
  timers.push(setTimeout(startWindow, RAMP_CAP_MS))
  instance.on('response', (client: unknown, status: number, _bytes: number, latency: number) => {
    const now = performance.now()
    if (startedAt === Infinity) {
      seen.add(client)
      if (seen.size >= spec.connections) startWindow()
      return
    }
    if (now < startedAt || now > endAt) return
    recorder.push(now, latency)
    statuses[status] = (statuses[status] ?? 0) + 1
  })
  const result = await instance
  for (const timer of timers) clearTimeout(timer)
  const [cpuBefore, cpuAfter] = await Promise.all([cpuStart, cpuEnd])

  const doneAt = recorder.doneAt.subarray(0, recorder.length)
  const latencyMs = recorder.latencyMs.subarray(0, recorder.length)
  let expected = 0
  let non2xx = 0
  for (const [status, count] of Object.entries(statuses)) {
    if (isExpected(Number(status), spec.expectStatus)) expected += count
    if (!isExpected(Number(status), 200)) non2xx += count
  }
  const errors = result.errors + result.timeouts
  return {
    requests: recorder.length,
    rps: expected / spec.durationS,
    ...percentiles(latencyMs),
    non2xx,
    errors,
    unexpected: recorder.length - expected + errors,
    statuses,
    // The server reads its clock when the IPC message arrives, at both ends alike: the window
    // it measures is the client's, shifted by about the same IPC delay.
    cpuUsPerRequest: cpuBefore === undefined || cpuAfter === undefined || recorder.length === 0 ? NaN : (cpuAfter - cpuBefore) / recorder.length,
    rampMs,
    startedAt,
    endedAt: endAt,
    doneAt,
    latencyMs
  }
}

/** Several runs of one row: mean requests/s (expected statuses only), median CPU per request, percentiles over every response pooled, worst max. */
export function combine (runs: LoadRun[]): LoadStats & { rpsPerRun: number[] } {
  const pooled = new Float64Array(runs.reduce((a, r) => a + r.latencyMs.length, 0))
  let offset = 0
  for (const r of runs) { pooled.set(r.latencyMs, offset); offset += r.latencyMs.length }
  const statuses: Record<string, number> = {}
  for (const r of runs) for (const [k, v] of Object.entries(r.statuses)) statuses[k] = (statuses[k] ?? 0) + v
  return {
    requests: pooled.length,
    rps: runs.reduce((a, r) => a + r.rps, 0) / runs.length,
    ...percentiles(pooled),
    non2xx: runs.reduce((a, r) => a + r.non2xx, 0),
    errors: runs.reduce((a, r) => a + r.errors, 0),
    unexpected: runs.reduce((a, r) => a + r.unexpected, 0),
    statuses,
    // The median run: one run disturbed by a burst of other load on the machine does not move it.
    cpuUsPerRequest: median(runs.map(r => r.cpuUsPerRequest)),
    rpsPerRun: runs.map(r => Math.round(r.rps))
  }
}
