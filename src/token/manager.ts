// One upstream's token policy: what to hand out and when to ask the source chain for a new one.
// A token is served while it has at least 1 s left before its margin; a background refresh
// starts at `refreshAt` of its lifetime, so no caller waits on the provider while one is held;
// at most one request to the source is in flight, and every caller without a token shares it;
// failures back off (1 s doubling to 10 s, or the provider's Retry-After), so an outage never
// becomes a request storm. Where tokens come from is the TokenSource's business.
//
// Listeners: 'updated' receives every token that replaces the one held.
import { EventEmitter } from 'node:events'
import { systemClock, type Clock, type TimerHandle } from '../lib/clock.js'
import {
  logSafeCode, upstreamCredentialsRejected, upstreamUnavailable, type AppError, type UpstreamErrorClass
} from '../lib/errors.js'
import { silentLogger, type Logger } from '../lib/logger.js'
import { fingerprint, Secret } from '../lib/secret.js'
import { noop } from '../lib/values.js'
import { BACKOFF_BASE_MS, CREDENTIALS_RETRY_MS, backoffDelayMs } from './backoff.js'
import { UpstreamFetchError, type IssuedToken, type TokenSource, type UpstreamState, type UpstreamToken } from './types.js'

export interface TokenManagerOptions {
  /** The upstream id, in errors, logs and handed-out tokens. */
  id: string
  source: TokenSource
  /** Stop handing a token out this many seconds before it expires. */
  marginSeconds: number
  /** Fraction in (0, 1) of a token's lifetime after which a background refresh starts. */
  refreshAt: number
  clock?: Clock
  /** Jitter source for backoff, in [0, 1). */
  random?: () => number
  logger?: Logger
  /** Completes "check …" in the log line when the provider rejects the credentials, e.g. which settings hold them. */
  credentialsHint?: string
}

/** The token held, with what every caller is handed computed once per token (or per second). */
interface Held {
  token: UpstreamToken
  tokenSha256: string
  /** The instant the caller must stop using it (expiry minus margin), ISO 8601 UTC. */
  stopAt: string
  /** The last IssuedToken handed out: the same object until expires_in changes, once a second. */
  issued: IssuedToken | undefined
}

export class TokenManager extends EventEmitter<{ updated: [UpstreamToken] }> {
  readonly id: string
  readonly #source: TokenSource
  readonly #marginMs: number
  readonly #refreshAt: number
  readonly #clock: Clock
  readonly #random: () => number
  readonly #log: Logger
  readonly #credentialsHint: string

  #held: Held | undefined
  #inflight: Promise<void> | undefined
  /** Rejects when the manager closes, so callers waiting on a source that ignores the abort stop waiting. */
  readonly #closing: Promise<never>
  #rejectClosing: (err: Error) => void = noop
  #controller: AbortController | undefined
  #closed = false
  /** Consecutive failed attempts; drives the backoff exponent. */
  #failures = 0
  #lastError: UpstreamErrorClass | null = null
  /** Monotonic ms before which no attempt starts and token-less callers get the remembered failure. */
  #backoffUntil = -Infinity
  /** Monotonic ms from which the held token should be replaced in the background. */
  #refreshDueAt = Infinity
  #timer: TimerHandle | undefined

  constructor (opts: TokenManagerOptions) {
    super()
    if (!(opts.refreshAt > 0 && opts.refreshAt < 1)) throw new RangeError('refreshAt must be in (0, 1)')
    if (!(opts.marginSeconds >= 0)) throw new RangeError('marginSeconds must not be negative')
    this.id = opts.id
    this.#source = opts.source
    this.#marginMs = opts.marginSeconds * 1000
    this.#refreshAt = opts.refreshAt
    this.#clock = opts.clock ?? systemClock
    this.#random = opts.random ?? Math.random
    this.#log = opts.logger ?? silentLogger
    this.#credentialsHint = opts.credentialsHint ?? 'the client id and secret'
    this.#closing = new Promise<never>((_resolve, reject) => { this.#rejectClosing = reject })
    this.#closing.catch(noop)
  }

  /**
   * A servable token. Never waits on the provider while one is held; otherwise waits for the
   * (shared) attempt, or rejects at once with the remembered failure inside a backoff window.
   * Rejects with a 503 or 502 AppError.
   */
  async getToken (): Promise<IssuedToken> {
    const held = this.peek()
    if (held !== undefined) return held
    const now = this.#clock.monotonic()
    if (this.#closed) throw this.#closedError()
    if (now < this.#backoffUntil) throw this.#rememberedFailure(now)
    try {
      await Promise.race([this.#attempt(), this.#closing])
    } catch {
      // The attempt recorded the failure and its backoff window before rejecting.
      throw this.#closed ? this.#closedError() : this.#rememberedFailure(this.#clock.monotonic())
    }
    // Time passes across an await: check again rather than trust what just arrived.
    const after = this.#clock.monotonic()
    const fresh = this.#servable(after)
    if (fresh !== undefined) return this.#issue(fresh, after)
    // Only a stalled event loop gets here: the token arrived too late to be of use.
    throw upstreamUnavailable(this.id, 'timeout', 1000)
  }

  /**
   * The token to hand out now, without waiting: the one held while it is servable (the hot path:
   * no promise, and the same object for every caller within a second), else undefined.
   */
  peek (): IssuedToken | undefined {
    const now = this.#clock.monotonic()
    const held = this.#servable(now)
    if (held === undefined) return undefined
    // Timers can be late: a caller past the refresh point starts the refresh itself.
    if (now >= this.#refreshDueAt) this.#background()
    return this.#issue(held, now)
  }

  /** Non-secret status for /readyz and metrics. */
  state (): UpstreamState {
    const now = this.#clock.monotonic()
    const held = this.#servable(now)
    if (held !== undefined) {
      return { state: 'valid', secondsLeft: this.#secondsLeft(held.token, now), lastErrorClass: this.#lastError }
    }
    return { state: this.#lastError === null ? 'missing' : 'failing', secondsLeft: 0, lastErrorClass: this.#lastError }
  }

  /** Starts an attempt without waiting for it, unless a token is held; a failure is logged and backed off, never thrown. */
  prewarm (): void {
    if (this.#servable(this.#clock.monotonic()) === undefined) this.#background()
  }

  /**
   * New client credentials were loaded: a back-off after the old ones were rejected ends, and a
   * new attempt starts at once, so callers do not wait out the 60 s meant for a fixed mistake.
   */
  credentialsChanged (): void {
    if (this.#closed || this.#lastError !== 'credentials_rejected') return
    this.#backoffUntil = -Infinity
    this.#clearTimer()
    this.#background()
  }

  /** Stops for good: clears the timer and aborts an attempt in flight, whose waiting callers get a 503. Idempotent. */
  close (): void {
    if (this.#closed) return
    this.#closed = true
    this.#clearTimer()
    this.#controller?.abort()
    this.#rejectClosing(new Error('closed'))
  }

  /** Starts the shared attempt unless closed, already in flight, or inside a backoff window. */
  #background (): void {
    if (this.#closed || this.#inflight !== undefined || this.#clock.monotonic() < this.#backoffUntil) return
    // The attempt records and logs its own failure; nobody awaits this one.
    this.#attempt().catch(noop)
  }

  /** The one attempt in flight, started if there is none: concurrent callers share it. */
  #attempt (): Promise<void> {
    this.#inflight ??= this.#run().finally(() => { this.#inflight = undefined })
    return this.#inflight
  }

  async #run (): Promise<void> {
    const controller = new AbortController()
    this.#controller = controller
    let token: UpstreamToken
    try {
      token = await this.#source.fetch(this.#held?.token, controller.signal)
      if (!isWellFormed(token) || !this.#isServable(token, this.#clock.monotonic())) {
        throw new UpstreamFetchError('bad_response', 'token is malformed or has too little lifetime left')
      }
    } catch (err) {
      this.#recordFailure(err)
      throw err
    } finally {
      this.#controller = undefined
    }
    this.#recordSuccess(token)
  }

  #recordSuccess (token: UpstreamToken): void {
    if (this.#closed) return
    const recoveredFrom = this.#lastError
    this.#failures = 0
    this.#lastError = null
    this.#backoffUntil = -Infinity
    this.#scheduleRefresh(token)
    if (token !== this.#held?.token) {
      // The stop instant on the wall clock, from the monotonic expiry, read once per token.
      const stopAtMs = this.#clock.wall() + token.expiresAtMonotonic - this.#marginMs - this.#clock.monotonic()
      this.#held = { token, tokenSha256: fingerprint(token.accessToken), stopAt: new Date(stopAtMs).toISOString(), issued: undefined }
      this.#log.info({
        upstream: this.id,
        expiresIn: token.expiresInSeconds,
        tokenSha256: this.#held.tokenSha256,
        ...(token.tokenId === undefined ? {} : { tokenId: token.tokenId })
      }, 'upstream token refreshed')
      this.#emitUpdated(token)
    }
    if (recoveredFrom !== null) {
      this.#log.info({ upstream: this.id, previousErrorClass: recoveredFrom }, 'upstream token fetch recovered')
    }
  }

  #recordFailure (err: unknown): void {
    if (this.#closed) return
    const errorClass = err instanceof UpstreamFetchError ? err.errorClass : 'network'
    const previous = this.#lastError
    this.#failures++
    this.#lastError = errorClass
    const delay = errorClass === 'credentials_rejected'
      ? CREDENTIALS_RETRY_MS
      : Math.max(backoffDelayMs(this.#failures, this.#random), err instanceof UpstreamFetchError ? err.retryAfterMs ?? 0 : 0)
    this.#backoffUntil = this.#clock.monotonic() + delay
    this.#setTimer(delay)
    const fields = {
      upstream: this.id,
      errorClass,
      // Our own messages carry no body or secret; a foreign error's might, so it is left out.
      ...(err instanceof UpstreamFetchError ? { reason: err.message, status: err.status } : {}),
      retryInSeconds: Math.ceil(delay / 1000),
      servingHeldToken: this.#servable(this.#clock.monotonic()) !== undefined
    }
    if (errorClass === 'credentials_rejected' && previous !== 'credentials_rejected') {
      this.#log.error(fields, `Upstream ${this.id} rejected this service's client credentials: check ${this.#credentialsHint}`)
    } else if (previous === null) {
      this.#log.warn(fields, 'upstream token fetch failing; backing off')
    } else {
      this.#log.debug(fields, 'upstream token fetch still failing')
    }
  }

  /** A throwing listener must not break token serving; its error may hold anything, so only its log-safe code is logged. */
  #emitUpdated (token: UpstreamToken): void {
    // rawListeners: a `once` listener's wrapper, which removes itself when called.
    for (const listener of this.rawListeners('updated')) {
      try {
        listener.call(this, token)
      } catch (err) {
        this.#log.error({ upstream: this.id, errorName: logSafeCode(err) }, 'token listener threw')
      }
    }
  }

  /**
   * Refresh at refreshAt of the lifetime counted from the request's start, but no later than
   * the last servable instant, and no sooner than 1 s from now (so a source handing back a
   * token already past its refresh point cannot cause a tight loop).
   */
  #scheduleRefresh (token: UpstreamToken): void {
    const now = this.#clock.monotonic()
    const lifetimeMs = token.expiresInSeconds * 1000
    const startedAt = token.expiresAtMonotonic - lifetimeMs
    const lastServable = token.expiresAtMonotonic - this.#marginMs - 1000
    this.#refreshDueAt = Math.max(Math.min(startedAt + this.#refreshAt * lifetimeMs, lastServable), now + BACKOFF_BASE_MS)
    this.#setTimer(this.#refreshDueAt - now)
  }

  /** One timer at a time: the refresh or the retry after a failure. */
  #setTimer (delay: number): void {
    this.#clearTimer()
    this.#timer = this.#clock.setTimer(() => {
      this.#timer = undefined
      // A timer can fire a fraction of a millisecond before the monotonic clock reaches the end
      // of the backoff window; the retry then waits out the rest instead of being dropped.
      const early = this.#backoffUntil - this.#clock.monotonic()
      if (early > 0 && !this.#closed) this.#setTimer(Math.ceil(early))
      else this.#background()
    }, delay)
  }

  #clearTimer (): void {
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer)
    this.#timer = undefined
  }

  #closedError (): AppError {
    // Shutting down: never start a request; 503 tells the caller to retry (another replica).
    return upstreamUnavailable(this.id, this.#lastError ?? 'network', 1000)
  }

  #rememberedFailure (now: number): AppError {
    const errorClass = this.#lastError ?? 'network'
    if (errorClass === 'credentials_rejected') return upstreamCredentialsRejected(this.id)
    return upstreamUnavailable(this.id, errorClass, this.#backoffUntil - now)
  }

  #servable (now: number): Held | undefined {
    const held = this.#held
    return held !== undefined && this.#isServable(held.token, now) ? held : undefined
  }

  #isServable (token: UpstreamToken, now: number): boolean {
    return token.expiresAtMonotonic - this.#marginMs - now >= 1000
  }

  #secondsLeft (token: UpstreamToken, now: number): number {
    return Math.floor((token.expiresAtMonotonic - this.#marginMs - now) / 1000)
  }

  /** expires_in: whole seconds left before the stop instant (rounded down); expires_at: that instant. */
  #issue (held: Held, now: number): IssuedToken {
    const expiresIn = this.#secondsLeft(held.token, now)
    if (held.issued?.expiresIn === expiresIn) return held.issued
    held.issued = Object.freeze({
      accessToken: held.token.accessToken,
      tokenType: 'Bearer',
      expiresIn,
      expiresAt: held.stopAt,
      upstream: this.id,
      tokenId: held.token.tokenId,
      tokenSha256: held.tokenSha256
    })
    return held.issued
  }
}

/** A source's token comes from outside this module (e.g. another replica through Redis): check its shape. */
function isWellFormed (token: UpstreamToken | undefined): token is UpstreamToken {
  return typeof token === 'object' && token !== null &&
    token.accessToken instanceof Secret && token.accessToken.reveal() !== '' &&
    token.tokenType === 'Bearer' &&
    Number.isFinite(token.expiresAtMonotonic) &&
    Number.isFinite(token.expiresInSeconds) && token.expiresInSeconds > 0
}
