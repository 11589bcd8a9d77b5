// Prometheus metrics for operators: one registry per app (never prom-client's global one, so
// several apps in one process do not collide), the counters other parts record into, and a way
// for the plugin that owns a state to add a gauge of it. Labels are bounded: an enabled upstream
// id or 'unknown', and fixed outcome names; never an identity, key, token or raw path.
// GET /metrics (src/routes/metrics.ts) serves the registry.
import fp from 'fastify-plugin'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { FetchOutcome } from '../token/types.js'

export const TOKEN_REQUEST_OUTCOMES = [
  'served', 'unauthorized', 'rate_limited', 'bad_request', 'unavailable', 'credentials_rejected', 'error'
] as const
export type TokenRequestOutcome = typeof TOKEN_REQUEST_OUTCOMES[number]

/** Every outcome a provider request can have, so each series exists (at 0) from the start. */
export const FETCH_OUTCOMES = [
  'success', 'timeout', 'network', 'throttled', 'server_error', 'bad_response', 'client_error', 'credentials_rejected'
] as const satisfies readonly FetchOutcome[]

/** Upstream fetches take milliseconds to UPSTREAM_TIMEOUT_MS (5 s by default, 60 s at most). */
const FETCH_BUCKETS = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

export interface Metrics {
  readonly registry: Registry
  /** One request to GET /token/webrtc answered; `upstream` is an enabled id or 'unknown'. */
  tokenRequest (upstream: string, status: number): void
  /** One request sent to a provider, and how it ended. */
  upstreamFetch (upstream: string, outcome: FetchOutcome, durationMs: number): void
  /** A request refused before routing (bad URL encoding, an unparseable or oversized header block). */
  malformedRequest (reason: string): void
  /** Creates every series of an upstream at 0, so rate() and absence alerts work from the start. */
  addUpstream (upstream: string): void
  /** Adds a counter owned by another plugin; `initial` label sets exist at 0 from the start. */
  counter<L extends string> (name: string, help: string, labelNames: readonly L[], initial?: ReadonlyArray<Record<L, string>>): { inc (labels: Record<L, string>, value?: number): void }
  /** Adds a gauge whose value is read at scrape time (`collect`). */
  gauge (name: string, help: string, labelNames: readonly string[], collect: (set: (value: number, labels?: Record<string, string>) => void) => void): void
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics
  }
}

/**
 * A request's outcome label, from its status code: `success` for a 2xx, the label `known` gives
 * its status, else `bad_request` for a 4xx and `error` for the rest. The routes' counters share it.
 */
export function statusOutcome<O extends string> (status: number, success: O, known: Readonly<Record<number, O>>): O | 'bad_request' | 'error' {
  if (status >= 200 && status < 300) return success
  return known[status] ?? (status >= 400 && status < 500 ? 'bad_request' : 'error')
}

const TOKEN_STATUS_OUTCOMES = { 401: 'unauthorized', 429: 'rate_limited', 502: 'credentials_rejected', 503: 'unavailable' } as const

/** The outcome of a /token/webrtc request, from its status code. */
export function tokenRequestOutcome (status: number): TokenRequestOutcome {
  return statusOutcome<TokenRequestOutcome>(status, 'served', TOKEN_STATUS_OUTCOMES)
}

/**
 * Default process metrics, collected once per process into a registry of their own and shared by
 * every app registry: they describe the process, and collecting them per app would start an
 * event-loop monitor and a GC observer per instance that never stop.
 */
let processRegistry: Registry | undefined
function processMetrics (): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry()
    collectDefaultMetrics({ register: processRegistry })
  }
  return processRegistry
}

export default fp(async function metrics (fastify) {
  const registry = Registry.merge([processMetrics()])
  const registers = [registry]

  // Token requests are counted in plain numbers, by upstream and outcome, and copied into the
  // counter when it is scraped: prom-client's inc() builds a label-hash string and checks every
  // label on each call (through a child from labels() too), which every request would pay.
  const tokenRequestCounts = new Map<string, Record<TokenRequestOutcome, number>>()
  function countsOf (upstream: string): Record<TokenRequestOutcome, number> {
    let counts = tokenRequestCounts.get(upstream)
    if (counts === undefined) {
      counts = Object.fromEntries(TOKEN_REQUEST_OUTCOMES.map((outcome) => [outcome, 0])) as Record<TokenRequestOutcome, number>
      tokenRequestCounts.set(upstream, counts)
    }
    return counts
  }
  registry.registerMetric(new Counter({
    name: 'token_requests_total',
    help: 'Requests to GET /token/webrtc, by upstream asked for (an enabled id, or "unknown") and outcome.',
    labelNames: ['upstream', 'outcome'] as const,
    registers: [],
    collect () {
      this.reset()
      for (const [upstream, counts] of tokenRequestCounts) {
        for (const outcome of TOKEN_REQUEST_OUTCOMES) this.inc({ upstream, outcome }, counts[outcome])
      }
    }
  }))
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
  const malformed = new Counter({
    name: 'malformed_requests_total',
    help: 'Requests refused before routing, by reason (bad_url, header_overflow, bad_request, timeout, missing_host, expectation_failed, connect).',
    labelNames: ['reason'] as const,
    registers
  })

  fastify.decorate('metrics', {
    registry,
    tokenRequest (upstream, status) {
      countsOf(upstream)[tokenRequestOutcome(status)]++
    },
    upstreamFetch (upstream, outcome, durationMs) {
      fetches.inc({ upstream, outcome })
      fetchDuration.observe({ upstream }, Math.max(0, durationMs) / 1000)
    },
    malformedRequest (reason) {
      malformed.inc({ reason })
    },
    addUpstream (upstream) {
      countsOf(upstream)
      for (const outcome of FETCH_OUTCOMES) fetches.inc({ upstream, outcome }, 0)
    },
    counter (name, help, labelNames, initial = []) {
      const counter = new Counter({ name, help, labelNames, registers })
      for (const labels of initial) counter.inc(labels as never, 0)
      return { inc: (labels, value = 1) => { counter.inc(labels as never, value) } }
    },
    gauge (name, help, labelNames, collect) {
      registry.registerMetric(new Gauge({
        name,
        help,
        labelNames,
        registers: [],
        collect () {
          collect((value, labels) => { labels === undefined ? this.set(value) : this.set(labels, value) })
        }
      }))
    }
  } satisfies Metrics)
}, { name: 'metrics', fastify: '5.x' })
