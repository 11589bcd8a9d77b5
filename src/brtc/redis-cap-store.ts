// The per-caller cap shared by every replica through Redis (REDIS_URL): one sorted set per owner
// tag, `wts:brtc:cap:<tag>` (the tag is an HMAC of the identity: no identity in clear), whose
// members are endpoint ids and reservations scored by the wall-clock ms at which their slot frees
// itself. Reserving is one Lua script, so it is atomic across replicas: it drops the expired
// members of every set of the caller, counts what is left, and adds a short-lived reservation
// only below the cap. Confirming replaces the reservation with the endpoint id, scored by the
// endpoint's expiry; a reservation that lapsed meanwhile is replaced only below the cap (the same
// count, in the same script). Each set expires a minute after its last member would.
//
// Redis is never a reason to fail a caller: while it is down (or a command fails) the replica
// counts on its own (MemoryCapStore) what it creates meanwhile, so the cap then holds per replica
// and per outage: a caller may hold more endpoints than the cap during an outage, never fewer. (A
// local copy of the shared count would go stale as soon as another replica deletes an endpoint, and
// would then refuse callers because Redis is down.) What Redis missed meanwhile, the endpoints this
// replica created and those it deleted, is written to it before its next use or at the next prune
// (every sweep interval), so the shared count catches up once it is back. Slots are scored with
// this replica's wall clock; replicas are expected to keep time (NTP): a skew only moves when an
// expired endpoint's slot frees.
import type { Redis } from 'ioredis'
import type { Clock } from '../lib/clock.js'
import { systemClock } from '../lib/clock.js'
import { logSafeCode } from '../lib/errors.js'
import { silentLogger, type Logger } from '../lib/logger.js'
import { noop } from '../lib/values.js'
import type { RedisLink } from '../redis/connection.js'
import { MemoryCapStore, reservationMember, type CapStore, type Reservation } from './cap-store.js'

export const CAP_KEY_PREFIX = 'wts:brtc:cap:'

/** A set outlives its last member by this much, so a late confirm still finds it. */
const KEEP_MS = 60_000

/** Script tail: KEYS[1] expires a minute after its last member (`now` is set). */
const KEEP_SET = `local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', KEYS[1], math.max(1, math.floor(tonumber(last[2]) - now)) + ${KEEP_MS})`

/** Script part: `count`, the live members of all KEYS, the expired ones dropped (`now` is set). */
const COUNT_LIVE = `local count = 0
for _, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  count = count + redis.call('ZCARD', key)
end`

/** KEYS: the caller's sets, current tag first. ARGV: now, max, member, until. 1 = reserved, 0 = at the cap. */
const RESERVE_SCRIPT = `local now = tonumber(ARGV[1])
${COUNT_LIVE}
if count >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
${KEEP_SET}
return 1`

/**
 * KEYS: the caller's sets, current tag first. ARGV: now, reservation, endpoint id, its expiry, max.
 * 1 = counted; 0 = the reservation had lapsed and the cap filled meanwhile (nothing counted).
 */
const CONFIRM_SCRIPT = `local now = tonumber(ARGV[1])
local held = redis.call('ZSCORE', KEYS[1], ARGV[2])
redis.call('ZREM', KEYS[1], ARGV[2])
if not (held and tonumber(held) > now) then
${COUNT_LIVE}
  if count >= tonumber(ARGV[5]) then return 0 end
end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
${KEEP_SET}
return 1`

/** KEYS[1]: the set. ARGV: now, endpoint id, its expiry. Counts an endpoint that exists (a write Redis missed). */
const RECORD_SCRIPT = `local now = tonumber(ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
${KEEP_SET}
return 1`

export interface RedisCapStoreOptions {
  redis: RedisLink
  /** The fallback while Redis is down. */
  local: MemoryCapStore
  reservationMs: number
  clock?: Clock
  logger?: Logger
}

export const capKey = (id: string): string => CAP_KEY_PREFIX + id

/** A write Redis missed: an endpoint to count under `id`, or one to forget under `ids`. */
type Missed = { op: 'add', id: string, expiresAtMs: number } | { op: 'remove', ids: readonly string[] }

/** Missed writes kept at most (one per endpoint, dropped once their endpoint has expired). */
const MAX_MISSED = 10_000

export class RedisCapStore implements CapStore {
  readonly #redis: RedisLink
  readonly #local: MemoryCapStore
  readonly #reservationMs: number
  readonly #clock: Clock
  readonly #log: Logger
  /** Per endpoint id, the last write Redis missed; replayed before the next command. */
  readonly #missed = new Map<string, Missed>()

  constructor (opts: RedisCapStoreOptions) {
    this.#redis = opts.redis
    this.#local = opts.local
    this.#reservationMs = opts.reservationMs
    this.#clock = opts.clock ?? systemClock
    this.#log = opts.logger ?? silentLogger
  }

  async reserve (ids: readonly string[], max: number): Promise<Reservation | undefined> {
    const client = this.#client()
    if (client !== undefined) {
      const member = reservationMember()
      const now = this.#clock.wall()
      try {
        await this.#replay(client)
        const reserved = await client.eval(RESERVE_SCRIPT, ids.length, ...ids.map(capKey), now, max, member, now + this.#reservationMs)
        return reserved === 1 ? { member, ids: [...ids], shared: true, max } : undefined
      } catch (err) {
        this.#fellBack('reserve', err)
      }
    }
    return this.#local.reserveNow(ids, max)
  }

  async confirm (reservation: Reservation, endpointId: string, expiresAtMs: number): Promise<boolean> {
    const id = reservation.ids[0] as string
    if (!reservation.shared) {
      const counted = await this.#local.confirm(reservation, endpointId, expiresAtMs)
      if (counted) this.#miss(endpointId, { op: 'add', id, expiresAtMs })
      return counted
    }
    let counted = true
    const written = await this.#try('confirm', async (client) => {
      const { ids, member, max } = reservation
      counted = await client.eval(CONFIRM_SCRIPT, ids.length, ...ids.map(capKey), this.#clock.wall(), member, endpointId, expiresAtMs, max) === 1
    })
    if (!written) {
      // Counted here for now, and in Redis once it is back (its reservation there expires).
      this.#local.record(id, endpointId, expiresAtMs)
      this.#miss(endpointId, { op: 'add', id, expiresAtMs })
    }
    return counted
  }

  async cancel (reservation: Reservation): Promise<void> {
    if (!reservation.shared) {
      await this.#local.cancel(reservation)
      return
    }
    await this.#try('cancel', async (client) => { await client.zrem(capKey(reservation.ids[0] as string), reservation.member) })
  }

  async holds (ids: readonly string[], endpointId: string): Promise<boolean> {
    if (await this.#local.holds(ids, endpointId)) return true
    let held = false
    await this.#try('holds', async (client) => {
      const now = this.#clock.wall()
      const scores = await Promise.all(ids.map(async (id) => await client.zscore(capKey(id), endpointId)))
      held = scores.some((score) => score !== null && Number(score) > now)
    })
    return held
  }

  async release (ids: readonly string[], endpointId: string): Promise<void> {
    await this.#local.release(ids, endpointId)
    // Recorded as missed, then written by the replay (which drops it once done): a pending write
    // of its creation is replaced, so no replay can count the endpoint again.
    this.#miss(endpointId, { op: 'remove', ids: [...ids] })
    await this.#try('release', async () => {})
  }

  /** Also writes what Redis missed, so the shared count catches up even on a replica no caller uses. */
  prune (): void {
    this.#local.prune()
    const now = this.#clock.wall()
    for (const [endpointId, missed] of this.#missed) if (missed.op === 'add' && missed.expiresAtMs <= now) this.#missed.delete(endpointId)
    // #try never rejects: a failure is logged and the writes wait for the next time.
    if (this.#missed.size > 0) this.#try('replay', async () => {}).catch(noop)
  }

  #miss (endpointId: string, missed: Missed): void {
    this.#missed.delete(endpointId)
    this.#missed.set(endpointId, missed)
    // The oldest first: a Map iterates in insertion order.
    for (const oldest of this.#missed.keys()) {
      if (this.#missed.size <= MAX_MISSED) break
      this.#missed.delete(oldest)
    }
  }

  /** Writes what Redis missed, oldest first; what fails stays for the next time. */
  async #replay (client: Redis): Promise<void> {
    if (this.#missed.size === 0) return
    for (const [endpointId, missed] of [...this.#missed]) {
      if (missed.op === 'add') {
        const now = this.#clock.wall()
        if (missed.expiresAtMs > now) await client.eval(RECORD_SCRIPT, 1, capKey(missed.id), now, endpointId, missed.expiresAtMs)
      } else {
        await Promise.all(missed.ids.map(async (id) => await client.zrem(capKey(id), endpointId)))
      }
      if (this.#missed.get(endpointId) === missed) this.#missed.delete(endpointId)
    }
  }

  #client (): Redis | undefined {
    return this.#redis.isUp() ? this.#redis.client : undefined
  }

  /**
   * Runs a Redis step, after what Redis missed, when Redis is up; whether it ran. A failure is
   * logged at debug and otherwise ignored.
   */
  async #try (step: string, fn: (client: Redis) => Promise<void>): Promise<boolean> {
    const client = this.#client()
    if (client === undefined) return false
    try {
      await this.#replay(client)
      await fn(client)
      return true
    } catch (err) {
      this.#fellBack(step, err)
      return false
    }
  }

  #fellBack (step: string, err: unknown): void {
    // The connection logs its own state changes once; a line per request would flood an outage.
    this.#log.debug({ step, errorClass: logSafeCode(err) }, 'brtc cap: redis command failed; counting on this replica')
  }
}
