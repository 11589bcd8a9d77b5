// Prometheus metrics for operators, exposed as `fastify.metrics` and served by GET /metrics.
// Each app instance has its own prom-client Registry (never the global default one), so several
// apps in one process (tests) do not collide. Labels are bounded: an enabled upstream id or
// 'unknown', and fixed outcome names; never an identity, key, token or raw path.
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { UpstreamId } from '../config/types.js'
import type { FetchOutcome } from '../token/types.js'

/** The route whose requests `token_requests_total` counts. */
export const TOKEN_ROUTE = '/token/webrtc'

export const TOKEN_REQUEST_OUTCOMES = [
  'served', 'unauthorized', 'rate_limited', 'bad_request', 'unavailable', 'credentials_rejected', 'error'
] as const
export type TokenRequestOutcome = typeof TOKEN_REQUEST_OUTCOMES[number]

/** Every outcome the token manager reports, so each series exists (at 0) from the start. */
export const FETCH_OUTCOMES = [
  'success', 'timeout', 'network', 'throttled', 'server_error', 'bad_response', 'client_error', 'credentials_rejected'
] as const satisfies readonly FetchOutcome[]

/** Upstream fetches take milliseconds to UPSTREAM_TIMEOUT_MS (5 s by default, 60 s at most). */
const FETCH_BUCKETS = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

export interface Metrics {
  readonly registry: Registry
  /** The token managers' onFetch hook: one provider request finished. */
  recordFetch: (upstream: UpstreamId, outcome: FetchOutcome, durationMs: number) => void
  /** onResponse hook of GET /token/webrtc (a route hook, so no other route pays for it). */
  countTokenRequest: (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics
  }
}

/** The outcome of a /token/webrtc request, from its status code. */
export function tokenRequestOutcome (status: number): TokenRequestOutcome {
  if (status >= 200 && status < 300) return 'served'
  if (status === 401) return 'unauthorized'
  if (status === 429) return 'rate_limited'
  if (status === 502) return 'credentials_rejected'
  if (status === 503) return 'unavailable'
  if (status >= 400 && status < 500) return 'bad_request'
  return 'error'
}

/**
 * The upstream a /token/webrtc request asked for, bounded for labels and logs: the `upstream`
 * query value only when it names an enabled upstream, the default when absent, else 'unknown'.
 */
export function requestedUpstream (request: FastifyRequest): string {
  const server = request.server
  if (!server.hasDecorator('tokens')) return 'unknown'
  const wanted = (request.query as { upstream?: unknown } | undefined)?.upstream
  if (wanted === undefined) return server.tokens.defaultUpstream
  return typeof wanted === 'string' && (server.tokens.enabled as readonly string[]).includes(wanted) ? wanted : 'unknown'
}

/**
 * Default process metrics, collected once per process into a registry of their own (not the
 * global one) and shared by every app registry: they describe the process, and collecting them
 * per app would start an event-loop monitor and a GC observer per instance that never stop.
 */
let processRegistry: Registry | undefined
function processMetrics (): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry()
    collectDefaultMetrics({ register: processRegistry })
  }
  return processRegistry
}

/**
 * Whether the Redis plugin's `fastify.redis` reports its connection up, read loosely at scrape
 * time so this plugin works before, without or after it: `isUp()` when it has one, else a
 * `status` of 'up' (or a bare ioredis client's 'ready'). Absent or null counts as down.
 */
function redisUp (fastify: FastifyInstance): boolean {
  if (!fastify.hasDecorator('redis')) return false
  const redis = (fastify as unknown as { redis: { isUp?: unknown, status?: unknown } | null }).redis
  if (typeof redis?.isUp === 'function') return (redis.isUp as () => unknown).call(redis) === true
  return redis?.status === 'up' || redis?.status === 'ready'
}

export default fp(async function metrics (fastify) {
  const registry = Registry.merge([processMetrics()])
  const registers = [registry]
  const upstreams = fastify.config.upstreams.map((u) => u.id)

  const tokenRequests = new Counter({
    name: 'token_requests_total',
    help: 'Requests to GET /token/webrtc, by upstream asked for (an enabled id, or "unknown") and outcome.',
    labelNames: ['upstream', 'outcome'] as const,
    registers
  })
  const fetches = new Counter({
    name: 'upstream_fetches_total',
    help: 'Token requests this service sent to a provider, by upstream and outcome (success or the failure class).',
    labelNames: ['upstream', 'outcome'] as const,
    registers
  })
  const fetchDuration = new Histogram({
    name: 'upstream_fetch_duration_seconds',
    help: 'Duration of token requests to a provider, failed ones included.',
    labelNames: ['upstream'] as const,
    buckets: FETCH_BUCKETS,
    registers
  })
  registry.registerMetric(new Gauge({
    name: 'upstream_token_expiry_seconds',
    help: 'Seconds the cached token of each upstream can still be handed out (before its expiry margin); 0 when none.',
    labelNames: ['upstream'] as const,
    registers: [],
    collect () {
      if (!fastify.hasDecorator('tokens')) return
      for (const manager of fastify.tokens.all()) this.set({ upstream: manager.id }, manager.state().secondsLeft)
    }
  }))
  if (fastify.config.redisUrl !== undefined) {
    registry.registerMetric(new Gauge({
      name: 'redis_up',
      help: '1 when the Redis connection (REDIS_URL) is ready for commands, else 0.',
      registers: [],
      collect () {
        this.set(redisUp(fastify) ? 1 : 0)
      }
    }))
  }

  // Every series of a known upstream exists from the start, so rate() and absence alerts work.
  for (const upstream of upstreams) {
    for (const outcome of TOKEN_REQUEST_OUTCOMES) tokenRequests.inc({ upstream, outcome }, 0)
    for (const outcome of FETCH_OUTCOMES) fetches.inc({ upstream, outcome }, 0)
  }

  // prom-client hashes a labels object on every inc(); the series a request can hit are few and
  // fixed (an enabled upstream or 'unknown', times an outcome), so each child is looked up once.
  const tokenRequestSeries = new Map<string, Map<TokenRequestOutcome, ReturnType<typeof tokenRequests.labels>>>()
  function tokenRequestSeriesFor (upstream: string, outcome: TokenRequestOutcome): ReturnType<typeof tokenRequests.labels> {
    let byOutcome = tokenRequestSeries.get(upstream)
    if (byOutcome === undefined) tokenRequestSeries.set(upstream, byOutcome = new Map())
    let series = byOutcome.get(outcome)
    if (series === undefined) byOutcome.set(outcome, series = tokenRequests.labels(upstream, outcome))
    return series
  }

  fastify.decorate('metrics', {
    registry,
    recordFetch (upstream: UpstreamId, outcome: FetchOutcome, durationMs: number) {
      fetches.inc({ upstream, outcome })
      fetchDuration.observe({ upstream }, Math.max(0, durationMs) / 1000)
    },
    countTokenRequest (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) {
      tokenRequestSeriesFor(requestedUpstream(request), tokenRequestOutcome(reply.statusCode)).inc()
      done()
    }
  })
}, { name: 'metrics', fastify: '5.x', dependencies: ['config'] })
