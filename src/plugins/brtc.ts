// Per-user endpoint tokens (BRTC_ACCOUNT_ID), as `fastify.brtc`: null when the mode is off (the
// routes are then not registered at all). Builds, from `fastify.config.brtc`, the Endpoints API
// client (authorised with the `bandwidth` upstream's cached token, from the token manager: one
// fetcher, its refresh-ahead and back-off), the owner-tag keys (from the `bandwidth` client secret
// in force at each use, so a `*_FILE` rotation applies at once), the per-caller cap (in memory, or
// shared through Redis with REDIS_URL, loaded only then) and the sweep (under the Redis lock with
// REDIS_URL). The sweep starts once the app is ready. In preClose the client ends every call in
// flight, so a caller waiting on the Endpoints API gets its 503 at once, and the sweep stops. Sweep
// metrics are counted here; the routes count their requests.
import fp from 'fastify-plugin'
import type { UpstreamConfig } from '../config/types.js'
import type { Clock } from '../lib/clock.js'
import { BrtcApiClient } from '../brtc/api-client.js'
import { MemoryCapStore, type CapStore } from '../brtc/cap-store.js'
import { EndpointService } from '../brtc/endpoint-service.js'
import { OwnerKeys } from '../brtc/owner-tag.js'
import { SWEEP_OUTCOMES, Sweeper, type SweepLock } from '../brtc/sweeper.js'

export interface BrtcPluginOptions {
  /** Timers and "now" of the API calls, the cap and the sweep (default: the system clock). */
  clock?: Clock
  /** The fetch of the Endpoints API calls (default: global fetch). */
  fetch?: typeof globalThis.fetch
  /** Endpoints per list page (default 1000, the provider's maximum), so tests page with few. */
  pageLimit?: number
}

/** What the routes (and tests, and operators' tooling) use. */
export interface Brtc {
  readonly endpoints: EndpointService
  readonly sweeper: Sweeper
  readonly keys: OwnerKeys
  readonly caps: CapStore
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Null unless BRTC_ACCOUNT_ID is set. */
    brtc: Brtc | null
  }
}

export default fp<BrtcPluginOptions>(async function brtc (fastify, opts) {
  const { config } = fastify
  const settings = config.brtc
  if (settings === undefined) {
    fastify.decorate('brtc', null)
    return
  }
  const manager = fastify.tokens.get('bandwidth')
  /* c8 ignore next -- parse-config refuses BRTC_ACCOUNT_ID without the bandwidth upstream */
  if (manager === undefined) throw new Error('BRTC_ACCOUNT_ID requires the bandwidth upstream')
  const { redis } = fastify
  const log = fastify.log.child({ component: 'brtc' })
  const clock = opts.clock

  const api = new BrtcApiClient({
    apiUrl: settings.apiUrl,
    accountId: settings.accountId,
    accessToken: async () => (await manager.getToken()).accessToken,
    timeoutMs: config.upstreamTimeoutMs,
    fetch: opts.fetch,
    clock,
    pageLimit: opts.pageLimit
  })
  // Read at each use: `fastify.config` is replaced by a reload, and parse-config guarantees the
  // bandwidth upstream whenever BRTC_ACCOUNT_ID is set.
  const bandwidth = (): UpstreamConfig => fastify.config.upstreams.find((u) => u.id === 'bandwidth') as UpstreamConfig
  const keys = new OwnerKeys({ secret: () => bandwidth().clientSecret, accountId: settings.accountId })

  // A reservation covers a create's account token (one timeout) and its call (another); a slower
  // create is held to the cap again when it confirms (src/brtc/cap-store.ts).
  const reservationMs = 2 * config.upstreamTimeoutMs + 5000
  const local = new MemoryCapStore({ clock, reservationMs })
  let caps: CapStore = local
  let lock: SweepLock | undefined
  if (redis !== null) {
    const [{ RedisCapStore }, { redisSweepLock }] = await Promise.all([import('../brtc/redis-cap-store.js'), import('../brtc/sweep-lock.js')])
    caps = new RedisCapStore({ redis, local, reservationMs, clock, logger: log })
    lock = redisSweepLock({ redis, accountId: settings.accountId, ttlMs: settings.sweepIntervalSeconds * 1000, logger: log })
  }

  const endpoints = new EndpointService({
    api, caps, keys, clock, logger: log, maxPerCaller: settings.maxEndpointsPerCaller, eventCallbackUrl: settings.eventCallbackUrl
  })

  const sweeps = fastify.metrics.counter('brtc_sweeps_total',
    'Sweeps of expired BRTC endpoints, by outcome (locked: another replica sweeps this interval).',
    ['outcome'], SWEEP_OUTCOMES.map((outcome) => ({ outcome })))
  const deleted = fastify.metrics.counter('brtc_sweep_deleted_total', 'Expired BRTC endpoints of this service deleted by the sweep.', [])
  const sweeper = new Sweeper({
    api,
    clock,
    lock,
    logger: log,
    intervalMs: settings.sweepIntervalSeconds * 1000,
    onSweep (result) {
      sweeps.inc({ outcome: result.outcome })
      if (result.deleted > 0) deleted.inc({}, result.deleted)
      // The cap's own bookkeeping: forget callers whose slots have all expired.
      caps.prune()
    }
  })

  fastify.decorate('brtc', { endpoints, sweeper, keys, caps } satisfies Brtc)

  // A rotated secret: derive its key now rather than in the first request after it.
  fastify.configUpdates.on('updated', (_config, changed) => {
    if (changed.includes('BANDWIDTH_CLIENT_SECRET')) warm()
  })
  function warm (): void {
    keys.warm().catch((err: unknown) => { log.error({ err }, 'brtc: owner-tag key derivation failed; retried at the next request') })
  }

  fastify.addHook('onReady', async function startSweeping () {
    warm()
    sweeper.start()
  })
  fastify.addHook('preClose', async function stopBrtc () {
    // Callers waiting on the Endpoints API get their 503 now, not a reset at the deadline.
    api.close()
    await sweeper.stop()
  })
}, { name: 'brtc', fastify: '5.x', dependencies: ['config', 'metrics', 'redis', 'tokens'] })
