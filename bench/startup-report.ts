// The start and idle cost's targets (service against bare Fastify, medians of one run) and
// its printed table, from the result bench/startup.ts measured.
import { round1, round2, table } from './output.js'
import type { StartupResult, VariantResult } from './startup.js'

export const START_TARGETS = { startFactor: 2, rssExtraMB: 25 }

export function startTargets (v: Record<string, VariantResult>): StartupResult['targets'] {
  const bare = v.bare as VariantResult
  const service = v.service as VariantResult
  const startRatio = round2(service.medianStartMs / bare.medianStartMs)
  const rssExtra = bare.medianIdleRssMB === null || service.medianIdleRssMB === null ? null : round1(service.medianIdleRssMB - bare.medianIdleRssMB)
  return [
    { target: `start to first /healthz 200 (median): service ≤ ${START_TARGETS.startFactor} × bare`, value: startRatio, pass: startRatio <= START_TARGETS.startFactor },
    {
      target: `idle RSS (median): service ≤ bare + ${START_TARGETS.rssExtraMB} MB`,
      value: rssExtra === null ? 'unknown' : `${rssExtra >= 0 ? '+' : ''}${rssExtra} MB`,
      pass: rssExtra !== null && rssExtra <= START_TARGETS.rssExtraMB
    }
  ]
}

/** The start and idle table: medians, then every repetition. */
export function formatStartup (result: StartupResult): string {
  const rows = [['process', 'start ms (median)', 'start ms (each)', 'idle RSS MB (median)', 'idle RSS MB (each)', 'modules ESM + CJS']]
  for (const v of Object.values(result.variants)) {
    rows.push([
      v.command,
      v.medianStartMs.toFixed(1),
      v.startMs.map((n) => n.toFixed(0)).join(' '),
      v.medianIdleRssMB === null ? 'unknown' : v.medianIdleRssMB.toFixed(1),
      v.idleRssMB.map((n) => n === null ? '?' : n.toFixed(0)).join(' '),
      v.modules === null ? '' : `${v.modules.esm} + ${v.modules.cjs}`
    ])
  }
  return [
    `start and idle cost: ${result.reps} starts of each, alternating; start = spawn → first 200 from GET /healthz (polled every ${result.pollMs} ms); idle RSS = VmRSS ${result.idleS} s after that`,
    '',
    table(rows)
  ].join('\n')
}

/** The table and its targets, for `--start-only`. */
export function formatStartupWithTargets (result: StartupResult): string {
  return `\n${formatStartup(result)}\n\n${table([['target', 'measured', ''], ...result.targets.map((t) => [t.target, String(t.value), t.pass ? 'PASS' : 'FAIL'])])}\n`
}
