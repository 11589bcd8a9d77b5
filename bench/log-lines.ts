// Log-lines mode (`--log-lines`): the CPU time one request log line costs through each way of
// writing it to /dev/null, in this process, alternating the variants over rounds so machine load
// hits them alike. The line is the service's: a request's child logger (Fastify's `request.log`,
// with its reqId), the service's redaction paths, and the fields of a served token's line. The
// variants: pino's synchronous destination with one write(2) per line (pino's default); the same
// batched by sonic-boom itself (`minLength`); and the service's, lines batched by
// src/lib/log-batch.ts in front of the synchronous destination.
import { mkdirSync, writeFileSync } from 'node:fs'
import pino from 'pino'
import { systemClock } from '../src/lib/clock.js'
import { batchLines } from '../src/lib/log-batch.js'
import { LOG_BUFFER_BYTES, LOG_FLUSH_MS, REDACT_PATHS } from '../src/server-options.js'
import { median } from './load.js'
import { log, round2, table } from './output.js'
import { RESULTS } from './settings.js'

const LINES = 200_000
const WARMUP_LINES = 20_000

/** The fields of a served token's request line (src/plugins/request-log.ts). */
const FIELDS = {
  method: 'GET',
  route: '/token/webrtc',
  status: 200,
  durationMs: 1.23,
  remoteAddress: '127.0.0.1',
  caller: 'bench',
  authMethod: 'api_key',
  upstream: 'global',
  tokenId: 'c0ffee00-0000-4000-8000-000000000000',
  tokenSha256: '0123456789abcdef',
  expiresAt: '2026-11-30T17:00:00.000Z'
}

interface Variant { name: string, open: () => { stream: pino.DestinationStream, close: () => void } }

const VARIANTS: Variant[] = [
  {
    name: 'one write(2) per line',
    open () {
      const d = pino.destination({ dest: '/dev/null', sync: true })
      return { stream: d, close: () => { d.flushSync(); d.end() } }
    }
  },
  {
    name: `sonic-boom minLength ${LOG_BUFFER_BYTES}`,
    open () {
      const d = pino.destination({ dest: '/dev/null', sync: true, minLength: LOG_BUFFER_BYTES })
      return { stream: d, close: () => { d.flushSync(); d.end() } }
    }
  },
  {
    name: `src/lib/log-batch.ts, ${LOG_BUFFER_BYTES} (the service's)`,
    open () {
      const d = pino.destination({ dest: '/dev/null', sync: true })
      const batch = batchLines(d, { bytes: LOG_BUFFER_BYTES, flushMs: LOG_FLUSH_MS, clock: systemClock })
      return { stream: batch.stream, close: () => { batch.close(); d.end() } }
    }
  }
]

/** CPU µs per line of one variant: a fresh logger, warmed up, then LINES lines. */
function measureVariant (variant: Variant): number {
  const { stream, close } = variant.open()
  const logger = pino({ redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, stream)
  for (let i = 0; i < WARMUP_LINES; i++) logger.child({ reqId: `warm-${i}` }).info(FIELDS, 'request completed')
  const start = process.cpuUsage()
  for (let i = 0; i < LINES; i++) logger.child({ reqId: `req-${i}` }).info(FIELDS, 'request completed')
  const used = process.cpuUsage(start)
  close()
  return (used.user + used.system) / LINES
}

export function logLines (rounds: number, command: string): void {
  const perLine = VARIANTS.map(() => [] as number[])
  for (let round = 1; round <= rounds; round++) {
    log(`round ${round}/${rounds}`)
    // Alternate the order, so no variant always runs first.
    const order = VARIANTS.map((_, i) => i)
    if (round % 2 === 0) order.reverse()
    for (const i of order) perLine[i]?.push(measureVariant(VARIANTS[i] as Variant))
  }
  const medians = perLine.map(median)
  const base = medians[0] as number
  const rows = [['destination', 'CPU µs/line (median)', '× one write per line', 'CPU µs/line per round']]
  VARIANTS.forEach((v, i) => {
    rows.push([v.name, (medians[i] as number).toFixed(2), ((medians[i] as number) / base).toFixed(2), (perLine[i] as number[]).map((x) => x.toFixed(2)).join(' ')])
  })
  mkdirSync(RESULTS, { recursive: true })
  writeFileSync(`${RESULTS}log-lines.json`, JSON.stringify({
    date: new Date().toISOString(),
    command,
    node: process.version,
    lines: LINES,
    rounds,
    results: Object.fromEntries(VARIANTS.map((v, i) => [v.name, { cpuUsPerLine: round2(medians[i] as number), perRound: (perLine[i] as number[]).map(round2) }]))
  }, null, 2) + '\n')
  process.stdout.write(`\n${table(rows)}\n\n${LINES} request log lines per variant and round to /dev/null; wrote bench/results/log-lines.json\n`)
}
