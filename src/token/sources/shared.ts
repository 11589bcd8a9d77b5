// The token cache shared by all replicas through Redis: a source that wraps another (the
// provider), so N replicas make one provider request per refresh:
//   1. read the encrypted entry; a servable token fresher than the manager's last one is used as is;
//   2. otherwise take the lock: the winner asks the wrapped source, writes the encrypted token
//      (expiring with it), then releases the lock; the others poll briefly for the winner's token;
//   3. a loser whose winner gave up (lock gone, no fresh token) or took too long asks itself.
// Redis is never on the hot path (the manager serves from its own copy), and any Redis error or
// outage means "ask the wrapped source as if Redis did not exist", sharing the result when Redis
// answers again: a caller never fails because of Redis. Entry names and the encryption key derive
// from the client secret (src/redis/crypto.ts), so a rotated secret moves to a new entry.
// Waits use real timers: they bound Redis round trips and another replica's request, not token
// lifetimes, which use the injected clock.
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { UpstreamConfig } from '../../config/types.js'
import { systemClock, type Clock } from '../../lib/clock.js'
import { logSafeCode } from '../../lib/errors.js'
import type { Logger } from '../../lib/logger.js'
import { Secret } from '../../lib/secret.js'
import type { RedisLink } from '../../redis/connection.js'
import { TokenCipher } from '../../redis/crypto.js'
import { acquireLock, releaseLock } from '../../redis/lock.js'
import type { TokenSource, UpstreamToken } from '../types.js'

export interface SharedSourceOptions {
  /** The source asked when no replica has a fresh token (the provider). */
  inner: TokenSource
  redis: RedisLink
  /** The upstream's current settings: the secret keys the entry, and may change on a reload. */
  upstream: () => UpstreamConfig
  /** UPSTREAM_TIMEOUT_MS: the winner's request takes at most this long, so the lock outlives it. */
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

/**
 * The Redis names and cipher of one client secret; `context` is what else names the entry
 * (token URL, client id, scope), and the keys follow all of it.
 */
interface Keys { secret: Secret, context: string, cipher: TokenCipher, key: string, lockKey: string }

interface Read { token: UpstreamToken | undefined, locked: boolean }

export class SharedSource implements TokenSource {
  readonly #inner: TokenSource
  readonly #redis: RedisLink
  readonly #upstream: () => UpstreamConfig
  readonly #clock: Clock
  readonly #log: Logger
  readonly #lockTtlMs: number
  readonly #pollMs: number
  readonly #maxPolls: number
  /** Entry id of every token this replica read from or wrote to Redis (tells "same entry" apart). */
  readonly #entryIds = new WeakMap<UpstreamToken, string>()
  #keys: Promise<Keys> | undefined
  #reportedUndecryptable = false

  constructor (opts: SharedSourceOptions) {
    this.#inner = opts.inner
    this.#redis = opts.redis
    this.#upstream = opts.upstream
    this.#clock = opts.clock ?? systemClock
    this.#log = opts.logger
    this.#lockTtlMs = opts.timeoutMs + LOCK_SLACK_MS
    this.#pollMs = opts.pollMs ?? DEFAULT_POLL_MS
    this.#maxPolls = Math.ceil(this.#lockTtlMs / this.#pollMs) + 1
  }

  /** The Redis key the current secret's token lives under (after its derivation finished). */
  async entryKey (): Promise<string> {
    return (await this.#currentKeys()).key
  }

  async fetch (last: UpstreamToken | undefined, signal: AbortSignal): Promise<UpstreamToken> {
    if (!this.#redis.isUp()) return await this.#inner.fetch(last, signal)
    let keys: Keys | undefined
    let lock: string | undefined
    try {
      keys = await this.#currentKeys()
      const first = await this.#read(keys, last)
      if (first.token !== undefined) return first.token
      lock = await acquireLock(this.#redis.client, keys.lockKey, this.#lockTtlMs)
      if (lock === undefined) {
        const won = await this.#waitForWinner(keys, last, signal)
        if (won !== undefined) return won
      } else {
        // The previous holder may have written its token and let go between the read and the lock.
        const since = await this.#read(keys, last)
        if (since.token !== undefined) {
          await releaseLock(this.#redis.client, keys.lockKey, lock)
          return since.token
        }
      }
    } catch (err) {
      if (signal.aborted) throw err
      // The lock may or may not have been taken; if it was, it expires on its own.
      this.#redisFailed(err, 'read')
      return keys === undefined ? await this.#inner.fetch(last, signal) : await this.#fetchAndShare(keys, last, signal)
    }
    if (lock === undefined) return await this.#fetchAndShare(keys, last, signal)
    try {
      // Written before the lock is released, so a loser that sees the lock gone finds the token.
      return await this.#fetchAndShare(keys, last, signal)
    } finally {
      await releaseLock(this.#redis.client, keys.lockKey, lock).catch((err: unknown) => { this.#redisFailed(err, 'unlock') })
    }
  }

  /** The keys of the credentials in use, derived once per secret and client (a reload that changes either derives anew). */
  async #currentKeys (): Promise<Keys> {
    const { clientSecret, tokenUrl, clientId, scope } = this.#upstream()
    const info = [tokenUrl.href, clientId, scope ?? null]
    const context = JSON.stringify(info)
    const current = await this.#keys?.catch(() => undefined)
    if (current?.secret.equals(clientSecret) === true && current.context === context) return current
    const next = TokenCipher.create(clientSecret, info).then((cipher): Keys => ({
      secret: clientSecret,
      context,
      cipher,
      key: `wts:token:${cipher.keyId}`,
      lockKey: `wts:lock:${cipher.keyId}`
    }))
    this.#keys = next
    return await next
  }

  async #fetchAndShare (keys: Keys, last: UpstreamToken | undefined, signal: AbortSignal): Promise<UpstreamToken> {
    const token = await this.#inner.fetch(last, signal)
    // A reload during the fetch may have changed the credentials it was made with (the provider
    // retries a refused request with the new ones): such a token is served here, not shared under
    // either entry, which could name the wrong client.
    if (await this.#currentKeys() !== keys) return token
    await this.#write(keys, token).catch((err: unknown) => { this.#redisFailed(err, 'write') })
    return token
  }

  /** Polls until the winner's token appears, the lock goes away without one, or the lock's lifetime passes. */
  async #waitForWinner (keys: Keys, last: UpstreamToken | undefined, signal: AbortSignal): Promise<UpstreamToken | undefined> {
    for (let i = 0; i < this.#maxPolls; i++) {
      await sleep(this.#pollMs, undefined, { signal, ref: false })
      const { token, locked } = await this.#read(keys, last)
      if (token !== undefined) return token
      if (!locked) return undefined
    }
    return undefined
  }

  /** The stored token if it is servable and fresher than `last`, and whether the fetch lock is held. */
  async #read (keys: Keys, last: UpstreamToken | undefined): Promise<Read> {
    const monotonic = this.#clock.monotonic()
    const wall = this.#clock.wall()
    const replies = await this.#redis.client.multi().get(keys.key).pttl(keys.key).exists(keys.lockKey).exec()
    const [raw, pttl, locked] = unwrap(replies)
    const miss = { token: undefined, locked: locked === 1 }
    if (typeof raw !== 'string' || typeof pttl !== 'number' || pttl <= 0) return miss
    const payload = this.#open(keys, raw)
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
    const usable = token.expiresAtMonotonic - this.#upstream().expiryMarginSeconds * 1000 - monotonic >= MIN_USEFUL_MS
    if (!usable || !this.#fresher(token, payload.n, last)) return miss
    this.#entryIds.set(token, payload.n)
    return { token, locked: miss.locked }
  }

  /** Another entry than the one `last` came from, expiring later: otherwise a refresh would loop on it. */
  #fresher (token: UpstreamToken, entryId: string, last: UpstreamToken | undefined): boolean {
    if (last === undefined) return true
    return this.#entryIds.get(last) !== entryId && token.expiresAtMonotonic > last.expiresAtMonotonic
  }

  #open (keys: Keys, raw: string): Payload | undefined {
    const plaintext = keys.cipher.decrypt(raw)
    const payload = plaintext === undefined ? undefined : parsePayload(plaintext)
    if (payload === undefined && !this.#reportedUndecryptable) {
      this.#reportedUndecryptable = true
      this.#log.debug({ upstream: this.#upstream().id }, 'shared token entry unreadable; treating it as a cache miss')
    }
    return payload
  }

  /** Encrypts and stores the token; the entry expires when the token does. */
  async #write (keys: Keys, token: UpstreamToken): Promise<void> {
    const remainingMs = Math.floor(token.expiresAtMonotonic - this.#clock.monotonic())
    if (remainingMs < MIN_USEFUL_MS || !this.#redis.isUp()) return
    const payload: Payload = {
      t: token.accessToken.reveal(),
      i: token.tokenId ?? null,
      e: token.expiresInSeconds,
      x: this.#clock.wall() + remainingMs,
      n: randomBytes(12).toString('base64url')
    }
    await this.#redis.client.set(keys.key, keys.cipher.encrypt(JSON.stringify(payload)), 'PX', remainingMs)
    this.#entryIds.set(token, payload.n)
  }

  #redisFailed (err: unknown, op: string): void {
    this.#log.debug({ upstream: this.#upstream().id, op, errorClass: logSafeCode(err) }, 'shared token cache unavailable; using the local cache')
  }
}

/** Replies of one MULTI; a failed command (or an aborted transaction) throws. */
function unwrap (replies: Array<[Error | null, unknown]> | null): unknown[] {
  // exec() resolves null only for a transaction aborted by WATCH, which this one does not use.
  /* c8 ignore next -- no WATCH here, so exec() never resolves null */
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
