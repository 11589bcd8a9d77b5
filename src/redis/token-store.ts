// The token cache shared by all replicas through Redis, plugged into one TokenManager's
// `tokenProvider` and `onTokenUpdate` hooks, so N replicas make one provider request per refresh:
//   1. read the encrypted entry; a servable token fresher than the caller's last one is used as is;
//   2. otherwise take the lock: the winner fetches, writes the encrypted token (expiring with it),
//      then releases the lock; the others poll briefly for the winner's token;
//   3. a loser whose winner gave up (lock gone, no fresh token) or took too long fetches itself.
// Redis is never on the hot path (the manager serves from its own cache), and any Redis error or
// outage means "fetch as if Redis did not exist": never fail a caller because of Redis.
// Waits use real timers: they bound Redis round trips and another replica's request, not token
// lifetimes, which use the injected clock.
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Redis } from 'ioredis'
import type { UpstreamConfig } from '../config/types.js'
import { Secret } from '../lib/secret.js'
import { systemClock } from '../token/clock.js'
import type { Clock, Logger, UpstreamToken } from '../token/types.js'
import { TokenCipher, tokenKeyId } from './crypto.js'
import { redisErrorClass } from './connection.js'
import { acquireLock, releaseLock } from './lock.js'

/** The part of the connection the store needs. */
export interface RedisLink {
  readonly client: Redis
  isUp (): boolean
}

export interface SharedTokenStoreOptions {
  redis: RedisLink
  upstream: UpstreamConfig
  /** UPSTREAM_TIMEOUT_MS: the winner's fetch takes at most this long, so the lock outlives it. */
  timeoutMs: number
  clock?: Clock
  logger: Logger
  /** Delay between a loser's looks at Redis. */
  pollMs?: number
}

/** Lock lifetime beyond the provider timeout: encryption and two Redis round trips. */
const LOCK_SLACK_MS = 1000
const DEFAULT_POLL_MS = 50
/** A stored token is worth reading only with this much servable time left (the manager's own floor is 1 s). */
const MIN_USEFUL_MS = 2000

/** Encrypted payload: the token and what is needed to rebuild it; `n` is a random entry id. */
interface Payload { t: string, i: string | null, e: number, x: number, n: string }

interface Read { token: UpstreamToken | undefined, locked: boolean }

export class SharedTokenStore {
  readonly key: string
  readonly lockKey: string
  readonly #redis: RedisLink
  readonly #upstream: UpstreamConfig
  readonly #cipher: TokenCipher
  readonly #clock: Clock
  readonly #log: Logger
  readonly #lockTtlMs: number
  readonly #pollMs: number
  readonly #maxPolls: number
  /** Entry id of every token this replica read from or wrote to Redis (tells "same entry" apart). */
  readonly #entryIds = new WeakMap<UpstreamToken, string>()
  #closed = false
  #reportedUndecryptable = false

  constructor (opts: SharedTokenStoreOptions) {
    const { upstream } = opts
    const keyId = tokenKeyId(upstream.tokenUrl, upstream.clientId, upstream.scope)
    this.key = `wts:token:${keyId}`
    this.lockKey = `wts:lock:${keyId}`
    this.#redis = opts.redis
    this.#upstream = upstream
    this.#cipher = new TokenCipher(upstream.clientSecret, keyId)
    this.#clock = opts.clock ?? systemClock
    this.#log = opts.logger
    this.#lockTtlMs = opts.timeoutMs + LOCK_SLACK_MS
    this.#pollMs = opts.pollMs ?? DEFAULT_POLL_MS
    this.#maxPolls = Math.ceil(this.#lockTtlMs / this.#pollMs) + 1
  }

  /** The manager's `tokenProvider`. */
  readonly provide = async (lastToken: UpstreamToken | undefined, fetchFresh: () => Promise<UpstreamToken>): Promise<UpstreamToken> => {
    if (this.#closed || !this.#redis.isUp()) return await fetchFresh()
    let lock: string | undefined
    try {
      const first = await this.#read(lastToken)
      if (first.token !== undefined) return first.token
      lock = await acquireLock(this.#redis.client, this.lockKey, this.#lockTtlMs)
      if (lock === undefined) {
        const won = await this.#waitForWinner(lastToken)
        if (won !== undefined) return won
      }
    } catch (err) {
      // The lock may or may not have been taken; if it was, it expires on its own.
      this.#redisFailed(err, 'read')
      return await fetchFresh()
    }
    if (lock === undefined) return await fetchFresh()
    return await this.#fetchAsWinner(lock, fetchFresh)
  }

  /** The manager's `onTokenUpdate`: shares a token this replica fetched outside the lock (a fallback). */
  readonly onUpdate = (token: UpstreamToken): void => {
    if (this.#closed || this.#entryIds.has(token) || !this.#redis.isUp()) return
    this.#write(token).catch((err: unknown) => { this.#redisFailed(err, 'write') })
  }

  /** Stops using Redis (app closing): waiting callers stop polling. */
  close (): void {
    this.#closed = true
  }

  async #fetchAsWinner (lock: string, fetchFresh: () => Promise<UpstreamToken>): Promise<UpstreamToken> {
    try {
      const token = await fetchFresh()
      // Written before the lock is released, so a loser that sees the lock gone finds the token.
      await this.#write(token).catch((err: unknown) => { this.#redisFailed(err, 'write') })
      return token
    } finally {
      await releaseLock(this.#redis.client, this.lockKey, lock).catch((err: unknown) => { this.#redisFailed(err, 'unlock') })
    }
  }

  /** Polls until the winner's token appears, the lock goes away without one, or the lock's lifetime passes. */
  async #waitForWinner (lastToken: UpstreamToken | undefined): Promise<UpstreamToken | undefined> {
    for (let i = 0; i < this.#maxPolls; i++) {
      await sleep(this.#pollMs)
      if (this.#closed) return undefined
      const { token, locked } = await this.#read(lastToken)
      if (token !== undefined) return token
      if (!locked) return undefined
    }
    return undefined
  }

  /** The stored token if it is servable and fresher than lastToken, and whether the fetch lock is held. */
  async #read (lastToken: UpstreamToken | undefined): Promise<Read> {
    const monotonic = this.#clock.monotonic()
    const wall = this.#clock.wall()
    const replies = await this.#redis.client.multi().get(this.key).pttl(this.key).exists(this.lockKey).exec()
    const [raw, pttl, locked] = unwrap(replies)
    const miss = { token: undefined, locked: locked === 1 }
    if (typeof raw !== 'string' || typeof pttl !== 'number' || pttl <= 0) return miss
    const payload = this.#open(raw)
    if (payload === undefined) return miss
    // Expiry in this process's monotonic clock: from the writer's absolute wall-clock expiry, but
    // never later than Redis's own countdown, so a replica whose wall clock lags cannot overrun it.
    const token: UpstreamToken = {
      accessToken: new Secret(payload.t),
      tokenType: 'Bearer',
      tokenId: payload.i ?? undefined,
      expiresInSeconds: payload.e,
      expiresAtMonotonic: monotonic + Math.min(payload.x - wall, pttl)
    }
    const usable = token.expiresAtMonotonic - this.#upstream.expiryMarginSeconds * 1000 - monotonic >= MIN_USEFUL_MS
    if (!usable || !this.#fresher(token, payload.n, lastToken)) return miss
    this.#entryIds.set(token, payload.n)
    return { token, locked: miss.locked }
  }

  /** Another entry than the one lastToken came from, expiring later: otherwise a refresh would loop on it. */
  #fresher (token: UpstreamToken, entryId: string, lastToken: UpstreamToken | undefined): boolean {
    if (lastToken === undefined) return true
    return this.#entryIds.get(lastToken) !== entryId && token.expiresAtMonotonic > lastToken.expiresAtMonotonic
  }

  #open (raw: string): Payload | undefined {
    const plaintext = this.#cipher.decrypt(raw)
    const payload = plaintext === undefined ? undefined : parsePayload(plaintext)
    if (payload === undefined && !this.#reportedUndecryptable) {
      this.#reportedUndecryptable = true
      this.#log.debug({ upstream: this.#upstream.id }, 'shared token entry unreadable (another client secret?); treating it as a cache miss')
    }
    return payload
  }

  /** Encrypts and stores the token; the entry expires when the token does. */
  async #write (token: UpstreamToken): Promise<void> {
    const remainingMs = Math.floor(token.expiresAtMonotonic - this.#clock.monotonic())
    if (remainingMs < MIN_USEFUL_MS) return
    const payload: Payload = {
      t: token.accessToken.reveal(),
      i: token.tokenId ?? null,
      e: token.expiresInSeconds,
      x: this.#clock.wall() + remainingMs,
      n: randomBytes(12).toString('base64url')
    }
    await this.#redis.client.set(this.key, this.#cipher.encrypt(JSON.stringify(payload)), 'PX', remainingMs)
    this.#entryIds.set(token, payload.n)
  }

  #redisFailed (err: unknown, op: string): void {
    this.#log.debug({ upstream: this.#upstream.id, op, errorClass: redisErrorClass(err) }, 'shared token cache unavailable; using the local cache')
  }
}

/** Replies of one MULTI; a failed command (or an aborted transaction) throws. */
function unwrap (replies: Array<[Error | null, unknown]> | null): unknown[] {
  // exec() resolves null only for a transaction aborted by WATCH, which this one does not use.
  /* c8 ignore next */
  if (replies === null) throw new Error('transaction aborted')
  return replies.map(([err, value]) => {
    if (err !== null) throw err
    return value
  })
}

function parsePayload (plaintext: string): Payload | undefined {
  try {
    const p = JSON.parse(plaintext) as Partial<Payload>
    const ok = typeof p.t === 'string' && p.t !== '' &&
      (p.i === null || typeof p.i === 'string') &&
      typeof p.e === 'number' && Number.isFinite(p.e) && p.e > 0 &&
      typeof p.x === 'number' && Number.isFinite(p.x) &&
      typeof p.n === 'string'
    return ok ? p as Payload : undefined
  } catch {
    return undefined
  }
}
