// The full run's targets, each with the measured value and PASS/FAIL: the service's rows as
// ratios to the naive row and to the bare-reply row of the same run, every row's statuses, and
// the stampede and refresh behaviours. Service at its defaults: LOG_LEVEL=info, the rate limiter
// counting every request, every header it sends.
import type { RefreshResult } from './refresh.js'
import type { ScenarioName } from './scenarios.js'
import { STAMPEDE_TOTAL, type StampedeResult } from './stampede.js'

export const TARGETS = {
  /** API-key path 2xx req/s ≥ this × the naive row's (the aim: apiKeyAim). */
  apiKeyRatio: 0.6,
  apiKeyAim: 0.8,
  jwtRatio: 0.55,
  /** Service p99 ≤ this × the naive row's p99. */
  p99Factor: 2,
  /** The service's own CPU per request: the API-key row's CPU µs/req minus the bare-reply row's. */
  cpuOverBareReplyUs: 30,
  refreshRpsRatio: 0.9,
  refreshMaxLatencyFactor: 1.5
}

export interface Target { target: string, value: number | string, pass: boolean }

/** A row against the reference rows of the same run (null where it does not apply). */
export interface RowRatios {
  /** 2xx req/s ÷ the naive row's. */
  toNaive: number | null
  toBare: number | null
  toBareReply: number | null
  p99ToNaive: number | null
  /** CPU µs per request minus the bare-reply row's: what the service's own work costs. */
  cpuUsOverBareReply: number | null
}

export type Ratios = Partial<Record<ScenarioName, RowRatios>>

const SERVICE_ROWS = ['api-key', 'jwt', 'jwt-pool', 'bad-key'] as const

export function loadTargets (ratios: Ratios, unexpected: number, refresh: RefreshResult, crowd: StampedeResult): Target[] {
  const at = (name: ScenarioName, key: keyof RowRatios): number => ratios[name]?.[key] ?? NaN
  const apiKey = at('api-key', 'toNaive')
  return [
    { target: `API-key path ≥ ${TARGETS.apiKeyRatio} × naive 2xx req/s (aim ${TARGETS.apiKeyAim})`, value: apiKey, pass: apiKey >= TARGETS.apiKeyRatio },
    { target: `JWT path (same JWT) ≥ ${TARGETS.jwtRatio} × naive 2xx req/s`, value: at('jwt', 'toNaive'), pass: at('jwt', 'toNaive') >= TARGETS.jwtRatio },
    ...SERVICE_ROWS.map((name) => ({
      target: `${name} p99 ≤ ${TARGETS.p99Factor} × naive p99`, value: at(name, 'p99ToNaive'), pass: at(name, 'p99ToNaive') <= TARGETS.p99Factor
    })),
    {
      target: `API-key path: service's own CPU over bare-reply ≤ ${TARGETS.cpuOverBareReplyUs} µs/req`,
      value: at('api-key', 'cpuUsOverBareReply'),
      pass: at('api-key', 'cpuUsOverBareReply') <= TARGETS.cpuOverBareReplyUs
    },
    { target: 'every row: only its expected status (2xx; 401 for bad-key), no errors', value: unexpected, pass: unexpected === 0 },
    {
      target: 'stampede: exactly 1 provider request per upstream',
      value: `${crowd.providerRequests.global} / ${crowd.providerRequests.bandwidth}`,
      pass: crowd.providerRequests.global === 1 && crowd.providerRequests.bandwidth === 1 && crowd.statuses['200'] === STAMPEDE_TOTAL
    },
    { target: `refresh: req/s in refresh windows ≥ ${TARGETS.refreshRpsRatio} × neighbours`, value: refresh.rpsRatio, pass: refresh.refreshes > 0 && refresh.rpsRatio >= TARGETS.refreshRpsRatio },
    { target: 'refresh: every response a 200 (no caller sees the refresh fail)', value: refresh.run.unexpected, pass: refresh.run.unexpected === 0 },
    {
      target: `refresh: a window's max latency (median over windows) ≤ ${TARGETS.refreshMaxLatencyFactor} × neighbours`,
      value: `${refresh.medianWindowMaxInRefreshWindowsMs} / ${refresh.medianWindowMaxInNeighbourWindowsMs} ms`,
      pass: refresh.medianWindowMaxInRefreshWindowsMs <= TARGETS.refreshMaxLatencyFactor * refresh.medianWindowMaxInNeighbourWindowsMs
    },
    { target: 'refresh: no caller waits on the provider (no response ≥ its 1 s delay)', value: refresh.responsesSlowerThanProvider, pass: refresh.responsesSlowerThanProvider === 0 }
  ]
}
