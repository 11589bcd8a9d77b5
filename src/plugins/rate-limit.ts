// Rate limits, as `fastify.limits`: RATE_LIMIT_MAX per RATE_LIMIT_WINDOW_MS per caller identity
// (API-key callers and JWT callers counted apart, even under one name), and the same budget per
// client address for failed authentication, so guessing keys is slow. An IPv6 client's budget
// covers its whole /64 (@fastify/rate-limit's normalizeIP), not one budget per address in it.
// The auth plugin asks these at the right moments: an address that has used up its budget is
// refused before any JWT work, and before its API key is checked, so a right guess gets the same
// 429 as a wrong one. With REDIS_URL the counters are shared by all replicas, and local while
// Redis is down (src/redis/rate-limit-store.ts).
import fp from 'fastify-plugin'
import rateLimit, { normalizeIP } from '@fastify/rate-limit'
import type { FastifyRequest } from 'fastify'
import { LRUCache } from 'lru-cache'
import { rateLimited, type AppError } from '../lib/errors.js'

export interface Limits {
  /** Counts one request of the authenticated caller `identity` (`<method>:<name>`); the 429 to answer when that exceeds the budget. */
  caller (request: FastifyRequest, identity: string): Promise<AppError | undefined>
  /** Counts nothing; the 429 to answer when the address has used up its failed-authentication budget. */
  checkAddress (request: FastifyRequest): Promise<AppError | undefined>
  /**
   * Synchronous and in memory, asked before any credential is looked at: the 429 to answer when
   * this replica has refused the address for using up its budget in the current window.
   */
  refusedAddress (request: FastifyRequest): AppError | undefined
  /**
   * Counts one failed authentication of the address; the 429 to answer when that exceeds the
   * budget. The failure that uses the budget up marks the address refused (refusedAddress).
   */
  countFailure (request: FastifyRequest): Promise<AppError | undefined>
}

declare module 'fastify' {
  interface FastifyInstance {
    limits: Limits
  }
}

const kIdentity = Symbol('rate-limit identity')
const kAddress = Symbol('rate-limit address')
type KeyCarrier = FastifyRequest & { [kIdentity]?: string, [kAddress]?: string }

/**
 * The failed-authentication key of a request, computed once (a failure asks for it up to four
 * times): `address:<IP, or its /64 for IPv6>`; identities are `api_key:<name>` or `jwt:<sub>`.
 */
function addressKey (request: KeyCarrier): string {
  return (request[kAddress] ??= `address:${normalizeIP(request.ip, 64)}`)
}

export default fp(async function rateLimitPlugin (fastify) {
  const { max, windowMs } = fastify.config.rateLimit
  const { redis } = fastify
  const store = redis === null ? undefined : (await import('../redis/rate-limit-store.js')).sharedRateLimitStore(redis, 'wts:rl:')
  await fastify.register(rateLimit, {
    global: false,
    // The store falls back to local counters by itself; should it still fail, let the request through.
    ...(store !== undefined && { store, skipOnError: true })
  })
  // createRateLimit takes the key from the request alone, so the keys ride along on it, as
  // properties (a WeakMap entry per request would cost the garbage collector more).
  const byCaller = fastify.createRateLimit({ max, timeWindow: windowMs, keyGenerator: (request) => (request as KeyCarrier)[kIdentity] ?? 'none' })
  const byAddress = fastify.createRateLimit({ max, timeWindow: windowMs, keyGenerator: addressKey })
  // The addresses this replica refused, each until its window ends (then the entry leaves). Every
  // request with a credential asks, so it is a synchronous lookup, and none at all while no
  // address is refused. Another replica learns of a refusal at the address's first failure there,
  // where the shared count is already over.
  const refused = new LRUCache<string, true>({ max: 10_000, ttlAutopurge: true })
  function refuse (request: FastifyRequest, ttl: number): AppError {
    refused.set(addressKey(request), true, { ttl: Math.max(1, ttl) })
    return rateLimited(ttl, max)
  }

  fastify.decorate('limits', {
    async caller (request, identity) {
      (request as KeyCarrier)[kIdentity] = identity
      const result = await byCaller(request)
      return !result.isAllowed && result.isExceeded ? rateLimited(result.ttl, max) : undefined
    },
    async checkAddress (request) {
      const result = await byAddress(request, { increment: false })
      return !result.isAllowed && result.remaining === 0 ? refuse(request, result.ttl) : undefined
    },
    refusedAddress (request) {
      if (refused.size === 0) return undefined
      // lru-cache reads its clock coarsely, so a remaining TTL can exceed the window by a fraction
      // of a millisecond, which Retry-After would round up to a second more than the window.
      const ttl = Math.min(refused.getRemainingTTL(addressKey(request)), windowMs)
      return ttl > 0 ? rateLimited(ttl, max) : undefined
    },
    async countFailure (request) {
      const result = await byAddress(request)
      if (result.isAllowed || result.remaining > 0) return undefined
      // The budget is used up: this failure gets its 401 if it was within the budget, and from the
      // next attempt on the address is refused before any credential is looked at.
      const refusal = refuse(request, result.ttl)
      return result.isExceeded ? refusal : undefined
    }
  } satisfies Limits)
}, { name: 'rate-limit', fastify: '5.x', dependencies: ['config', 'redis'] })
