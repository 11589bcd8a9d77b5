// One upstream's access token: fetched on demand or ahead of expiry, at most one provider
// request at a time, backed off on failure so an outage never becomes a request storm, and
// handed out only while it has at least 1 s left before its margin. Plain TypeScript, no
// Fastify, so routes, /readyz, metrics and a later shared (Redis) store can all use it.
//
// Caching: lru-cache with a single key (the upstream id) is the store and the singleflight.
// `cache.fetch(id, { forceRefresh: true })` starts the fetch method, or joins the one in
// flight, so concurrent callers share one provider request. lru-cache's TTL is NOT used:
// expiry lives in the value (`expiresAtMonotonic`) because it must count from before the
// request was sent (lru-cache would start it at set()), servability needs the margin + 1 s
// rule, and a stale entry must never make a plain fetch() contact the provider inside a
// backoff window. So nothing is ever stale to lru-cache; every read re-checks servability
// itself, and a fetch happens only when this class asks for one with forceRefresh.
// `noDeleteOnFetchRejection` keeps the current token when a background refresh fails; the
// fetch method records and logs every failure itself, so nothing lru-cache swallows is lost.
// This class never deletes the key (that would abort a fetch in flight) except through
// clear() in close(), where aborting the in-flight request is the point.
import { LRUCache } from 'lru-cache'
import type { UpstreamConfig, UpstreamId } from '../config/types.js'
import { UpstreamCredentialsError, UpstreamUnavailableError, type UpstreamErrorClass } from '../lib/errors.js'
import { Secret } from '../lib/secret.js'
import { BACKOFF_BASE_MS, CREDENTIALS_RETRY_MS, backoffDelayMs } from './backoff.js'
import { systemClock } from './clock.js'
import type { Clock, FetchOutcome, IssuedToken, Logger, TimerHandle, UpstreamState, UpstreamToken } from './types.js'
import { UpstreamFetchError, fetchUpstreamToken } from './upstream-client.js'

export interface TokenManagerOptions {
  upstream: UpstreamConfig
  /** TOKEN_REFRESH_AT, fraction in (0, 1) of a token's lifetime after which a refresh starts. */
  refreshAt: number
  /** UPSTREAM_TIMEOUT_MS, per provider attempt. */
  timeoutMs: number
  clock?: Clock
  fetch?: typeof globalThis.fetch
  /** Jitter source for backoff. */
  random?: () => number
  logger?: Logger
  /**
   * Replaces the direct provider request: called with the last stored token (if any) and
   * `fetchFresh`, which performs the real request. What it returns must be servable.
   */
  tokenProvider?: (lastToken: UpstreamToken | undefined, fetchFresh: () => Promise<UpstreamToken>) => Promise<UpstreamToken>
  /** Called whenever a token other than the one already held is stored. */
  onTokenUpdate?: (token: UpstreamToken) => void
  /** Called once per provider request, for metrics. */
  onFetch?: (outcome: FetchOutcome, durationMs: number) => void
}

/** Env var prefix per upstream, to tell operators what to fix without printing a value. */
const ENV_PREFIX: Record<UpstreamId, string> = { bandwidth: 'BANDWIDTH', global: 'GLOBAL_WEBRTC' }

const noop = (): void => {}
const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop }

export class TokenManager {
  readonly id: UpstreamId
  readonly #upstream: UpstreamConfig
  readonly #marginMs: number
  readonly #refreshAt: number
  readonly #timeoutMs: number
  readonly #clock: Clock
  readonly #fetch: typeof globalThis.fetch
  readonly #random: () => number
  readonly #log: Logger
  readonly #tokenProvider: TokenManagerOptions['tokenProvider']
  readonly #onTokenUpdate: TokenManagerOptions['onTokenUpdate']
  readonly #onFetch: TokenManagerOptions['onFetch']
  readonly #cache: LRUCache<UpstreamId, UpstreamToken>

  #closed = false
  /** True while the fetch method runs; lru-cache guarantees there is at most one. */
  #fetching = false
  /** Consecutive failed fetches; drives the backoff exponent. */
  #failures = 0
  #lastError: UpstreamErrorClass | null = null
  /** Monotonic ms before which no fetch starts and token-less callers get the remembered failure. */
  #backoffUntil = -Infinity
  /** Monotonic ms from which the held token should be replaced in the background. */
  #refreshDueAt = Infinity
  #refreshTimer: TimerHandle | undefined
  /** The last expires_at formatted, and its instant (epoch ms): see #issue. */
  #expiresAtMs = NaN
  #expiresAt = ''
  #retryTimer: TimerHandle | undefined

  constructor (opts: TokenManagerOptions) {
    if (!(opts.refreshAt > 0 && opts.refreshAt < 1)) throw new RangeError('refreshAt must be in (0, 1)')
    if (!(opts.timeoutMs > 0)) throw new RangeError('timeoutMs must be positive')
    if (!(opts.upstream.expiryMarginSeconds >= 0)) throw new RangeError('expiryMarginSeconds must not be negative')
    this.id = opts.upstream.id
    this.#upstream = opts.upstream
    this.#marginMs = opts.upstream.expiryMarginSeconds * 1000
    this.#refreshAt = opts.refreshAt
    this.#timeoutMs = opts.timeoutMs
    this.#clock = opts.clock ?? systemClock
    this.#fetch = opts.fetch ?? globalThis.fetch
    this.#random = opts.random ?? Math.random
    this.#log = opts.logger ?? silentLogger
    this.#tokenProvider = opts.tokenProvider
    this.#onTokenUpdate = opts.onTokenUpdate
    this.#onFetch = opts.onFetch
    this.#cache = new LRUCache<UpstreamId, UpstreamToken>({
      max: 1,
      noDeleteOnFetchRejection: true,
      fetchMethod: async (_id, lastToken, { signal }) => await this.#load(lastToken, signal)
    })
  }

  /**
   * A servable token. Never waits on the provider while one is held; otherwise waits for the
   * (shared) fetch, or rejects at once with the remembered failure inside a backoff window.
   */
  async getToken (): Promise<IssuedToken> {
    const now = this.#clock.monotonic()
    const held = this.#servable(now)
    if (held !== undefined) {
      // Timers can be late: a caller past the refresh point starts the refresh itself.
      if (now >= this.#refreshDueAt) this.#startBackgroundFetch()
      return this.#issue(held, now)
    }
    // Shutting down: never start a request; 503 tells the caller to retry (another replica).
    if (this.#closed) throw new UpstreamUnavailableError(this.id, this.#lastError ?? 'network', 1)
    if (now < this.#backoffUntil) throw this.#rememberedFailure(now)
    let token: UpstreamToken | undefined
    try {
      token = await this.#cache.fetch(this.id, { forceRefresh: true })
    } catch {
      // The fetch method recorded the failure and its backoff window before rejecting.
      throw this.#rememberedFailure(this.#clock.monotonic())
    }
    // Time passes across an await: check again rather than trust what just arrived.
    const after = this.#clock.monotonic()
    if (token !== undefined && this.#isServable(token, after)) return this.#issue(token, after)
    // Only a stalled event loop gets here: the token arrived too late to be of use.
    throw new UpstreamUnavailableError(this.id, 'timeout', 1)
  }

  /** Non-secret status for /readyz and metrics. */
  state (): UpstreamState {
    const now = this.#clock.monotonic()
    const held = this.#servable(now)
    if (held !== undefined) {
      return { state: 'valid', secondsLeft: this.#secondsLeft(held, now), lastErrorClass: this.#lastError }
    }
    return { state: this.#lastError === null ? 'missing' : 'failing', secondsLeft: 0, lastErrorClass: this.#lastError }
  }

  /** Starts a fetch without waiting for it; a failure is logged and backed off, never thrown. */
  prewarm (): void {
    if (this.#servable(this.#clock.monotonic()) === undefined) this.#startBackgroundFetch()
  }

  /** Clears every timer, aborts an in-flight request and forgets the token. Idempotent. */
  close (): void {
    if (this.#closed) return
    this.#closed = true
    this.#clearTimers()
    // Aborts the fetch method's signal (forwarded to the provider request) and drops the token.
    this.#cache.clear()
  }

  /** lru-cache's fetch method: one (coalesced) attempt, recorded as a success or a failure. */
  async #load (lastToken: UpstreamToken | undefined, signal: AbortSignal): Promise<UpstreamToken> {
    this.#fetching = true
    return await this.#obtain(lastToken, signal).then(
      (token) => {
        this.#fetching = false
        this.#recordSuccess(token, lastToken)
        return token
      },
      (err: unknown) => {
        this.#fetching = false
        this.#recordFailure(err)
        throw err
      })
  }

  /** A token through tokenProvider when given, else straight from the provider; checked either way. */
  async #obtain (lastToken: UpstreamToken | undefined, signal: AbortSignal): Promise<UpstreamToken> {
    const fetchFresh = async (): Promise<UpstreamToken> => await this.#fetchFresh(signal)
    const token = this.#tokenProvider === undefined
      ? await fetchFresh()
      : await this.#tokenProvider(lastToken, fetchFresh)
    if (!isWellFormed(token) || !this.#isServable(token, this.#clock.monotonic())) {
      throw new UpstreamFetchError('bad_response', 'token is malformed or has too little lifetime left')
    }
    return token
  }

  /** The real provider request, reported to onFetch exactly once. */
  async #fetchFresh (signal: AbortSignal): Promise<UpstreamToken> {
    const started = this.#clock.monotonic()
    const report = (outcome: FetchOutcome): void => {
      this.#callHook('onFetch', () => this.#onFetch?.(outcome, this.#clock.monotonic() - started))
    }
    return await fetchUpstreamToken({
      url: this.#upstream.tokenUrl,
      clientId: this.#upstream.clientId,
      clientSecret: this.#upstream.clientSecret,
      scope: this.#upstream.scope,
      timeoutMs: this.#timeoutMs,
      marginSeconds: this.#upstream.expiryMarginSeconds,
      fetch: this.#fetch,
      clock: this.#clock,
      signal
    }).then(
      (token) => {
        report('success')
        return token
      },
      (err: unknown) => {
        report(errorClassOf(err))
        throw err
      })
  }

  #recordSuccess (token: UpstreamToken, lastToken: UpstreamToken | undefined): void {
    // After close() lru-cache discards the result; keep it from arming timers too.
    if (this.#closed) return
    const recoveredFrom = this.#lastError
    this.#failures = 0
    this.#lastError = null
    this.#backoffUntil = -Infinity
    this.#clearTimers()
    this.#scheduleRefresh(token)
    if (token !== lastToken) {
      this.#log.info({
        upstream: this.id,
        expiresIn: token.expiresInSeconds,
        ...(token.tokenId === undefined ? {} : { tokenId: token.tokenId })
      }, 'upstream token refreshed')
      this.#callHook('onTokenUpdate', () => this.#onTokenUpdate?.(token))
    }
    if (recoveredFrom !== null) {
      this.#log.info({ upstream: this.id, previousErrorClass: recoveredFrom }, 'upstream token fetch recovered')
    }
  }

  #recordFailure (err: unknown): void {
    if (this.#closed) return
    const errorClass = errorClassOf(err)
    const previous = this.#lastError
    this.#failures++
    this.#lastError = errorClass
    let delay: number
    if (errorClass === 'credentials_rejected') {
      delay = CREDENTIALS_RETRY_MS
    } else {
      const retryAfter = err instanceof UpstreamFetchError ? err.retryAfterSeconds : undefined
      delay = Math.max(backoffDelayMs(this.#failures, this.#random), (retryAfter ?? 0) * 1000)
    }
    this.#backoffUntil = this.#clock.monotonic() + delay
    this.#setRetryTimer(delay)
    const fields = {
      upstream: this.id,
      errorClass,
      // Our own messages carry no body or secret; a tokenProvider's error might, so it is left out.
      ...(err instanceof UpstreamFetchError ? { reason: err.message, status: err.status } : {}),
      retryInSeconds: Math.ceil(delay / 1000),
      servingHeldToken: this.#servable(this.#clock.monotonic()) !== undefined
    }
    if (errorClass === 'credentials_rejected' && previous !== 'credentials_rejected') {
      const env = ENV_PREFIX[this.id]
      this.#log.error(fields, `Upstream ${this.id} rejected this service's client credentials: check ${env}_CLIENT_ID and ${env}_CLIENT_SECRET`)
    } else if (previous === null) {
      this.#log.warn(fields, 'upstream token fetch failing; backing off')
    } else {
      this.#log.debug(fields, 'upstream token fetch still failing')
    }
  }

  /** Starts the shared fetch unless closed, already fetching, or inside a backoff window. */
  #startBackgroundFetch (): void {
    if (this.#closed || this.#fetching || this.#clock.monotonic() < this.#backoffUntil) return
    // The failure is already recorded and logged by the fetch method; nobody awaits this one.
    this.#cache.fetch(this.id, { forceRefresh: true }).catch(noop)
  }

  /**
   * Refresh at refreshAt of the lifetime counted from the request's start, but no later than
   * the last servable instant, and no sooner than 1 s from now (so a tokenProvider handing
   * back a token already past its refresh point cannot cause a tight loop).
   */
  #scheduleRefresh (token: UpstreamToken): void {
    const now = this.#clock.monotonic()
    const lifetimeMs = token.expiresInSeconds * 1000
    const startedAt = token.expiresAtMonotonic - lifetimeMs
    const lastServable = token.expiresAtMonotonic - this.#marginMs - 1000
    this.#refreshDueAt = Math.max(Math.min(startedAt + this.#refreshAt * lifetimeMs, lastServable), now + BACKOFF_BASE_MS)
    this.#refreshTimer = this.#clock.setTimer(() => {
      this.#refreshTimer = undefined
      this.#startBackgroundFetch()
    }, this.#refreshDueAt - now)
  }

  #setRetryTimer (delay: number): void {
    this.#clearTimers()
    this.#retryTimer = this.#clock.setTimer(() => {
      this.#retryTimer = undefined
      this.#startBackgroundFetch()
    }, delay)
  }

  #clearTimers (): void {
    if (this.#refreshTimer !== undefined) this.#clock.clearTimer(this.#refreshTimer)
    if (this.#retryTimer !== undefined) this.#clock.clearTimer(this.#retryTimer)
    this.#refreshTimer = undefined
    this.#retryTimer = undefined
  }

  #rememberedFailure (now: number): UpstreamCredentialsError | UpstreamUnavailableError {
    const errorClass = this.#lastError ?? 'network'
    if (errorClass === 'credentials_rejected') return new UpstreamCredentialsError(this.id)
    // The error rounds up and floors at 1 s.
    return new UpstreamUnavailableError(this.id, errorClass, (this.#backoffUntil - now) / 1000)
  }

  #servable (now: number): UpstreamToken | undefined {
    const token = this.#cache.peek(this.id)
    return token !== undefined && this.#isServable(token, now) ? token : undefined
  }

  #isServable (token: UpstreamToken, now: number): boolean {
    return token.expiresAtMonotonic - this.#marginMs - now >= 1000
  }

  #secondsLeft (token: UpstreamToken, now: number): number {
    return Math.floor((token.expiresAtMonotonic - this.#marginMs - now) / 1000)
  }

  #issue (token: UpstreamToken, now: number): IssuedToken {
    const expiresIn = this.#secondsLeft(token, now)
    // From the whole seconds reported, so expires_at is exactly now + expires_in (never later).
    const expiresAtMs = this.#clock.wall() + expiresIn * 1000
    // Under load many requests share one millisecond: format each instant once.
    if (expiresAtMs !== this.#expiresAtMs) {
      this.#expiresAtMs = expiresAtMs
      this.#expiresAt = new Date(expiresAtMs).toISOString()
    }
    return {
      accessToken: token.accessToken,
      tokenType: 'Bearer',
      expiresIn,
      expiresAt: this.#expiresAt,
      upstream: this.id
    }
  }

  /** A throwing hook must not break token serving; its error may hold anything, so only its name is logged. */
  #callHook (hook: string, call: () => void): void {
    try {
      call()
    } catch (err) {
      this.#log.error({ upstream: this.id, hook, errorName: err instanceof Error ? err.name : typeof err }, 'token manager hook threw')
    }
  }
}

function errorClassOf (err: unknown): UpstreamErrorClass {
  // Anything not from the provider client (e.g. a tokenProvider's store failing) counts as network.
  return err instanceof UpstreamFetchError ? err.errorClass : 'network'
}

/** What a tokenProvider returns comes from outside this module (e.g. a shared store): check its shape. */
function isWellFormed (token: UpstreamToken | undefined): token is UpstreamToken {
  return typeof token === 'object' && token !== null &&
    token.accessToken instanceof Secret && token.accessToken.reveal() !== '' &&
    token.tokenType === 'Bearer' &&
    Number.isFinite(token.expiresAtMonotonic) &&
    Number.isFinite(token.expiresInSeconds) && token.expiresInSeconds > 0
}
