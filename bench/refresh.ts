// The refresh-under-load scenario: the API-key path under load on a fresh service whose token
// refreshes every few seconds from a slow provider (behind a gate), then requests/s and maximum
// latency in the time windows with a refresh in flight against the windows next to them.
// Target: no visible dip and no caller waiting on the provider.
import { TOKEN_PATH } from '../emulator/upstream-emulator.js'
import { startService } from './fixtures.js'
import { createGate } from './gate.js'
import { combine, median, type LoadStats } from './load.js'
import { round1 } from './output.js'
import { measure, scenario, type BenchContext } from './scenarios.js'

/**
 * The refresh scenario's provider answers after this: long enough that a caller who waited on
 * the refresh would stand out from any tail latency of a loaded machine.
 */
export const PROVIDER_DELAY_MS = 1000
/**
 * Refresh scenario: token lifetime, with TOKEN_REFRESH_AT 0.5 and a 1 s margin, so a refresh
 * starts every ~4 s and its answer arrives ~1 s before the held token stops being servable.
 */
const REFRESH_LIFETIME_S = 8
/** Width of the time windows compared. */
export const BUCKET_MS = 500

export interface RefreshResult {
  lifetimeS: number
  refreshAt: number
  providerDelayMs: number
  durationS: number
  refreshes: number
  refreshWindows: number
  neighbourWindows: number
  rpsInRefreshWindows: number
  rpsInNeighbourWindows: number
  rpsRatio: number
  maxLatencyInRefreshWindowsMs: number
  maxLatencyInNeighbourWindowsMs: number
  /**
   * The median over windows of each window's slowest response: what a typical refresh window
   * looks like. One stray pause (GC, the hypervisor) lands in a refresh window about half the
   * time, so the single worst response above cannot tell the refresh's cost from noise.
   */
  medianWindowMaxInRefreshWindowsMs: number
  medianWindowMaxInNeighbourWindowsMs: number
  /** Responses slower than the provider's delay: callers that may have waited on the refresh. */
  responsesSlowerThanProvider: number
  run: LoadStats
}

export async function refreshUnderLoad ({ settings, fixtures, scenarios }: BenchContext): Promise<RefreshResult> {
  const { emulator } = fixtures
  const durationS = settings.quick ? 6 : 20
  const warmupS = settings.quick ? 2 : 3
  emulator.setExpiresIn('global', REFRESH_LIFETIME_S)
  const gate = await createGate(emulator.url)
  gate.delay(PROVIDER_DELAY_MS)
  const service = await startService(fixtures, settings, {
    GLOBAL_WEBRTC_TOKEN_URL: gate.url(`/global${TOKEN_PATH}`),
    GLOBAL_WEBRTC_EXPIRY_MARGIN_SECONDS: '1',
    TOKEN_REFRESH_AT: '0.5'
  })
  try {
    // A fresh process: a longer warm-up, so the JIT has settled before the window opens.
    const run = await measure(scenario(scenarios, 'api-key'), service, durationS, warmupS)
    const calls = gate.calls.filter((c) => c.endedAt >= run.startedAt && c.startedAt <= run.endedAt)
    const windows = Math.floor((run.endedAt - run.startedAt) / BUCKET_MS)
    const count = new Array<number>(windows).fill(0)
    const maxLatency = new Array<number>(windows).fill(0)
    for (let i = 0; i < run.doneAt.length; i++) {
      const b = Math.floor(((run.doneAt[i] as number) - run.startedAt) / BUCKET_MS)
      if (b >= windows) continue
      count[b] = (count[b] as number) + 1
      maxLatency[b] = Math.max(maxLatency[b] as number, run.latencyMs[i] as number)
    }
    // A window "has a refresh" if a provider request was in flight during it (or ended just before it).
    const refreshing = count.map((_, b) => {
      const from = run.startedAt + b * BUCKET_MS
      const to = from + BUCKET_MS
      return calls.some((c) => c.startedAt < to && c.endedAt + 100 > from)
    })
    const inRefresh = count.map((_, b) => b).filter((b) => refreshing[b] === true)
    // Compared with the windows next to them (up to two either side), not with all others: a fresh
    // process still speeds up over its first seconds (JIT), and other load on the machine drifts.
    const near = new Set<number>()
    for (const b of inRefresh) {
      for (let d = -2; d <= 2; d++) if (refreshing[b + d] === false) near.add(b + d)
    }
    const other = [...near]
    const rps = (bs: number[]): number => bs.length === 0 ? 0 : bs.reduce((a, b) => a + (count[b] as number), 0) / bs.length / (BUCKET_MS / 1000)
    const maxOf = (bs: number[]): number => bs.reduce((a, b) => Math.max(a, maxLatency[b] as number), 0)
    const medianMaxOf = (bs: number[]): number => bs.length === 0 ? 0 : median(bs.map((b) => maxLatency[b] as number))
    let slower = 0
    for (const l of run.latencyMs) if (l >= PROVIDER_DELAY_MS) slower++
    const rpsIn = rps(inRefresh)
    const rpsOther = rps(other)
    return {
      lifetimeS: REFRESH_LIFETIME_S,
      refreshAt: 0.5,
      providerDelayMs: PROVIDER_DELAY_MS,
      durationS,
      refreshes: calls.length,
      refreshWindows: inRefresh.length,
      neighbourWindows: other.length,
      rpsInRefreshWindows: Math.round(rpsIn),
      rpsInNeighbourWindows: Math.round(rpsOther),
      rpsRatio: rpsOther === 0 ? 0 : Math.round(100 * rpsIn / rpsOther) / 100,
      maxLatencyInRefreshWindowsMs: round1(maxOf(inRefresh)),
      maxLatencyInNeighbourWindowsMs: round1(maxOf(other)),
      medianWindowMaxInRefreshWindowsMs: round1(medianMaxOf(inRefresh)),
      medianWindowMaxInNeighbourWindowsMs: round1(medianMaxOf(other)),
      responsesSlowerThanProvider: slower,
      run: combine([run])
    }
  } finally {
    await service.stop()
    // A refresh the service started just before it stopped still reaches the emulator.
    await gate.close()
    emulator.setExpiresIn('global', 600)
  }
}
