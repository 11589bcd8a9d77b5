// A @fastify/rate-limit store (the library's documented `store` interface: incr, read, child)
// that counts in Redis, shared by all replicas, while Redis is up, and in this replica's memory
// while it is down or a command fails. Keys are hashed (SHA-256, unkeyed) before they reach
// Redis, so a copy of Redis names no caller identity or client address in clear, though it can
// confirm a guessed one (docs/threat-model.md).
//
// Why not the library's own Redis store with `skipOnError: true`: skipOnError lets every request
// through while Redis is down, which switches rate limiting (and with it the brake on key and JWT
// guessing) off exactly when something is already wrong. Falling back to local counters keeps a
// limit of RATE_LIMIT_MAX per replica: looser than the shared one by the replica count, never
// absent. The library exports neither of its stores, so the small fixed-window counter both
// sides need is written here.
import type { FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit'
import type { Redis } from 'ioredis'
import { LRUCache } from 'lru-cache'
import { sha256 } from '../lib/secret.js'
import type { RedisLink } from './connection.js'

type Count = { current: number, ttl: number }
type Callback = (error: Error | null, result?: Count) => void

/** INCR with the window set on the first hit; {count, ms left}. A key without expiry gets one. */
const INCR = `local current = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {current, ttl}`

/** The count without changing it; {0, 0} for no active window. */
const READ = `local current = redis.call('GET', KEYS[1])
if not current then return {0, 0} end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then ttl = 0 end
return {tonumber(current), ttl}`

interface Scripts {
  wtsRateIncr (key: string, windowMs: number): Promise<[number, number]>
  wtsRateRead (key: string): Promise<[number, number]>
}

/** Fixed-window counters in memory, for while Redis is unavailable. Bounded like the library's own (5000 keys). */
class LocalCounters {
  readonly #entries = new LRUCache<string, { count: number, start: number }>({ max: 5000 })

  incr (key: string, windowMs: number): Count {
    const now = Date.now()
    let entry = this.#entries.get(key)
    if (entry === undefined || entry.start + windowMs <= now) {
      entry = { count: 0, start: now }
      this.#entries.set(key, entry)
    }
    entry.count++
    return { current: entry.count, ttl: entry.start + windowMs - now }
  }

  read (key: string, windowMs: number): Count {
    const now = Date.now()
    const entry = this.#entries.get(key)
    if (entry === undefined || entry.start + windowMs <= now) return { current: 0, ttl: 0 }
    return { current: entry.count, ttl: entry.start + windowMs - now }
  }
}

function scripts (client: Redis): Scripts {
  // defineCommand sends each script once and then calls it by its SHA.
  if (!('wtsRateIncr' in client)) {
    client.defineCommand('wtsRateIncr', { numberOfKeys: 1, lua: INCR })
    client.defineCommand('wtsRateRead', { numberOfKeys: 1, lua: READ })
  }
  return client as unknown as Scripts
}

/** A store class for @fastify/rate-limit's `store` option; Redis keys are `nameSpace` + a digest of the rate-limit key. */
export function sharedRateLimitStore (redis: RedisLink, nameSpace: string): FastifyRateLimitStoreCtor {
  const redisKey = (key: string): string => nameSpace + sha256(key).toString('base64url')

  class SharedRateLimitStore implements FastifyRateLimitStore {
    readonly #local = new LocalCounters()

    incr (key: string, cb: Callback, windowMs: number): void {
      if (!redis.isUp()) {
        cb(null, this.#local.incr(key, windowMs))
        return
      }
      scripts(redis.client).wtsRateIncr(redisKey(key), windowMs).then(
        ([current, ttl]) => { cb(null, { current, ttl }) },
        () => { cb(null, this.#local.incr(key, windowMs)) })
    }

    read (key: string, cb: Callback, windowMs: number): void {
      if (!redis.isUp()) {
        cb(null, this.#local.read(key, windowMs))
        return
      }
      scripts(redis.client).wtsRateRead(redisKey(key)).then(
        ([current, ttl]) => { cb(null, { current, ttl }) },
        () => { cb(null, this.#local.read(key, windowMs)) })
    }

    /** Each limiter gets its own local counters; in Redis, limiters are kept apart by their keys' prefixes. */
    child (): SharedRateLimitStore {
      return new SharedRateLimitStore()
    }
  }
  return SharedRateLimitStore
}
