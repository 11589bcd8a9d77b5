// The stampede scenario: 10,000 requests in flight at once (pipelined over keep-alive sockets)
// at a fresh service whose first provider requests are held at a gate until all have arrived.
// Reports the provider requests per upstream (target: exactly 1) and the time until every
// request is answered.
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { TOKEN_PATH } from '../emulator/upstream-emulator.js'
import type { Stats } from './child.js'
import { startService } from './fixtures.js'
import { createGate } from './gate.js'
import { percentiles } from './load.js'
import { runPipelined } from './pipelined-client.js'
import { TOKEN, type BenchContext } from './scenarios.js'

export const STAMPEDE = { sockets: 500, depth: 20 }
export const STAMPEDE_TOTAL = STAMPEDE.sockets * STAMPEDE.depth

export interface StampedeResult {
  requests: number
  sockets: number
  pipelinedPerSocket: number
  /** Requests the service had received when the provider was let answer. */
  receivedBeforeProviderAnswered: number
  providerRequests: { global: number, bandwidth: number }
  statuses: Record<string, number>
  unanswered: number
  /** First request written → the service had received them all (the provider was held meanwhile). */
  allArrivedMs: number
  /** The provider answered → the last of the 10,000 replies arrived. */
  answeredAfterProviderMs: number
  /** First request written → last reply. */
  totalMs: number
  p50Ms: number
  p99Ms: number
  maxMs: number
  rssAfterBytes: number
}

async function waitUntil (predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!predicate()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(10)
  }
}

export async function stampede ({ settings, fixtures }: BenchContext): Promise<StampedeResult> {
  const { emulator, apiKey } = fixtures
  const before = { global: emulator.requests('global'), bandwidth: emulator.requests('bandwidth') }
  const gate = await createGate(emulator.url)
  gate.hold()
  const service = await startService(fixtures, settings, {
    GLOBAL_WEBRTC_TOKEN_URL: gate.url(`/global${TOKEN_PATH}`),
    BANDWIDTH_TOKEN_URL: gate.url(`/bandwidth${TOKEN_PATH}`),
    // The provider is held until every caller has arrived; its request must not time out first.
    UPSTREAM_TIMEOUT_MS: '30000'
  }, { countRequests: true })
  try {
    // The startup prewarm of each upstream is the one request in flight, held at the gate.
    await waitUntil(() => gate.pending >= 2, 10_000, 'the service\'s first provider requests')
    const port = Number(new URL(service.url).port)
    const heads = [TOKEN, `${TOKEN}?upstream=bandwidth`].map((path) =>
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-API-Key: ${apiKey}\r\n\r\n`)
    const client = runPipelined({
      host: '127.0.0.1',
      port,
      ...STAMPEDE,
      request: (i) => heads[i % 2] as string,
      timeoutMs: 60_000
    })
    let received = 0
    let releasedAt = 0
    let allArrivedAt = 0
    const deadline = performance.now() + 30_000
    while (performance.now() < deadline) {
      received = (await service.stats()).received
      if (received >= STAMPEDE_TOTAL) { allArrivedAt = performance.now(); break }
      await sleep(5)
    }
    releasedAt = performance.now()
    gate.release()
    const result = await client
    const stats: Stats = await service.stats()
    await gate.drain()
    return {
      requests: STAMPEDE_TOTAL,
      sockets: STAMPEDE.sockets,
      pipelinedPerSocket: STAMPEDE.depth,
      receivedBeforeProviderAnswered: received,
      providerRequests: {
        global: emulator.requests('global') - before.global,
        bandwidth: emulator.requests('bandwidth') - before.bandwidth
      },
      statuses: result.statuses,
      unanswered: result.unanswered,
      allArrivedMs: allArrivedAt === 0 ? -1 : Math.round(allArrivedAt - result.firstWriteAt),
      answeredAfterProviderMs: Math.round(result.lastResponseAt - releasedAt),
      totalMs: Math.round(result.lastResponseAt - result.firstWriteAt),
      ...percentiles(result.latencyMs),
      rssAfterBytes: stats.rssBytes
    }
  } finally {
    await service.stop()
    await gate.close()
  }
}
