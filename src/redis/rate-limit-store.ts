// A @fastify/rate-limit store that counts in Redis (shared by all replicas) while Redis is up,
// and in this replica's memory while it is down or a command fails. It wraps the library's own
// RedisStore and LocalStore rather than re-implementing either.
//
// Why not just `redis` + `skipOnError: true`: skipOnError lets every request through while Redis
// is down, which switches rate limiting (and with it the brake on API-key guessing) off exactly
// when something is already wrong. Falling back to local counters keeps a limit of RATE_LIMIT_MAX
// per replica: looser than the shared one by the replica count, never absent.
import { createRequire } from 'node:module'
import type { FastifyRateLimitStoreCtor } from '@fastify/rate-limit'
import type { Redis } from 'ioredis'

type IncrCallback = (error: Error | null, result?: { current: number, ttl: number }) => void

interface LibraryStore {
  incr (key: string, cb: IncrCallback, timeWindow: number, max: number): void
}

interface StoreParams {
  continueExceeding?: boolean
  exponentialBackoff?: boolean
  cache?: number
}

// The library ships both stores as CommonJS files without type declarations.
const require = createRequire(import.meta.url)
const LocalStore = require('@fastify/rate-limit/store/LocalStore.js') as new (continueExceeding?: boolean, exponentialBackoff?: boolean, cache?: number) => LibraryStore
const RedisStore = require('@fastify/rate-limit/store/RedisStore.js') as new (continueExceeding: boolean | undefined, exponentialBackoff: boolean | undefined, redis: Redis, key: string) => LibraryStore

/** The part of the connection the store needs. */
export interface RateLimitRedisLink {
  readonly client: Redis
  isUp (): boolean
}

/** A store class for @fastify/rate-limit's `store` option; keys are `nameSpace` + the rate-limit key. */
export function sharedRateLimitStore (redis: RateLimitRedisLink, nameSpace: string): FastifyRateLimitStoreCtor {
  class SharedRateLimitStore {
    readonly #shared: LibraryStore
    readonly #local: LibraryStore

    constructor (params: StoreParams) {
      this.#shared = new RedisStore(params.continueExceeding, params.exponentialBackoff, redis.client, nameSpace)
      this.#local = new LocalStore(params.continueExceeding, params.exponentialBackoff, params.cache)
    }

    incr (key: string, cb: IncrCallback, timeWindow: number, max: number): void {
      if (!redis.isUp()) {
        this.#local.incr(key, cb, timeWindow, max)
        return
      }
      this.#shared.incr(key, (err, result) => {
        if (err === null) cb(null, result)
        else this.#local.incr(key, cb, timeWindow, max)
      }, timeWindow, max)
    }

    /** Each limiter gets its own local counters; Redis keys are `nameSpace` + key (the app has one limiter). */
    child (routeOptions: StoreParams): SharedRateLimitStore {
      return new SharedRateLimitStore(routeOptions)
    }
  }
  // The library's declared child() parameter is route options; it passes merged limiter params.
  return SharedRateLimitStore as unknown as FastifyRateLimitStoreCtor
}
