// The browser token client. Bandwidth's WebRTC SDK takes a raw OAuth token
// (`BandwidthUA.setOAuthToken`) and has no refresh callback, so this module keeps a fresh token
// from this service and hands each new one to the app. A dependency-free ES module, built with
// DOM types (tsconfig.client.json), published as the package's `./client` export and served at
// GET /client/token-client.js.
//
// The fetch, clocks, timers, randomness and the document/window event sources are injectable
// (`env`), so the scheduling logic is unit-tested in Node with a fake clock. The access token
// travels only from the response body to `get()` and `onToken`: never into a URL, storage, the
// console or an error (errors carry statuses and codes, never a response body).
// `Retry-After` is read by the service's own parser (src/lib/retry-after.ts), and the backoff
// computed by the service's own function (src/token/backoff.ts, with this client's cap), both
// bundled in by the build.
// The module also offers the per-user endpoint client (endpoint-client.ts), re-exported below.
import { parseRetryAfter as parseRetryAfterHeader } from '../lib/retry-after.js'
import { clampUnit, MAX_EXPIRES_IN_SECONDS, MAX_TIMER_MS, noop } from '../lib/values.js'
import { backoffDelayMs } from '../token/backoff.js'
import { browserBasics, lostProblem, problemOf, RETRY_AFTER_CAP_MS, send, timeoutOption, type BrowserBasics, type ServiceProblem } from './service-reply.js'

// Both clients honour the service's `Retry-After` up to this (10 minutes).
export { RETRY_AFTER_CAP_MS } from './service-reply.js'

// The per-user endpoint client is served in the same module (GET /client/token-client.js).
export {
  createEndpointClient, EndpointClientError, parseEndpointList, parseEndpointToken,
  DEFAULT_ENDPOINT_TIMEOUT_MS
} from './endpoint-client.js'
export type {
  EndpointClient, EndpointClientEnv, EndpointClientErrorCode, EndpointClientHeaders, EndpointClientOptions,
  EndpointSummary, EndpointToken, PageHideTarget
} from './endpoint-client.js'

/** A token as GET /token/webrtc returns it (contract fields only). Frozen. */
export interface Token {
  readonly access_token: string
  readonly token_type: 'Bearer'
  /** Whole seconds from the response until the token must no longer be used. */
  readonly expires_in: number
  /** That instant in ISO 8601 UTC, on the service's clock. */
  readonly expires_at: string
  readonly upstream: string
}

/** What `headers()` may return: the `HeadersInit` of fetch. */
export type TokenClientHeaders = NonNullable<RequestInit['headers']>

export type TokenClientErrorCode =
  /**
   * 401: the caller's credentials were refused. Refreshing stops; re-authenticate, then call
   * get() (for 1 s after the refusal, get() rejects with it again without asking).
   */
  | 'UNAUTHORIZED'
  /** Another 4xx (e.g. an unknown upstream): a configuration error. Refreshing stops. */
  | 'REJECTED'
  /** 429: retried after `Retry-After`. */
  | 'RATE_LIMITED'
  /** 503: retried after `Retry-After`. */
  | 'UNAVAILABLE'
  /** Another 5xx: retried with backoff. */
  | 'SERVER_ERROR'
  /** An answer that is not a token: retried with backoff. */
  | 'BAD_RESPONSE'
  /** The request failed (offline, refused by CORS, DNS): retried with backoff and when back online. */
  | 'NETWORK'
  /** No answer within `timeoutMs`, a 408, or a token that expired on its way: retried with backoff. */
  | 'TIMEOUT'
  /** `options.headers()` threw or rejected (see `cause`): retried with backoff. */
  | 'HEADERS'
  /** stop() was called. */
  | 'STOPPED'

export class TokenClientError extends Error {
  readonly code: TokenClientErrorCode
  /** HTTP status of the service's answer, when there was one. */
  readonly status: number | undefined
  /** The service's error `code` (e.g. `UPSTREAM_UNAVAILABLE`), when it sent one. */
  readonly serviceCode: string | undefined
  /** Milliseconds until the client retries on its own; undefined when it will not. */
  readonly retryInMs: number | undefined

  constructor (code: TokenClientErrorCode, message: string, details: {
    status?: number | undefined
    serviceCode?: string | undefined
    retryInMs?: number | undefined
    cause?: unknown
  } = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause })
    this.name = 'TokenClientError'
    this.code = code
    this.status = details.status
    this.serviceCode = details.serviceCode
    this.retryInMs = details.retryInMs
  }
}

/** An event source such as `window` (for `online`). */
export interface ListenerTarget {
  addEventListener: (type: string, listener: () => void) => void
  removeEventListener: (type: string, listener: () => void) => void
}

/** An event source such as `document` (for `visibilitychange`). */
export interface VisibilityTarget extends ListenerTarget {
  readonly visibilityState: string
}

/** Everything the client takes from its environment; the defaults are the browser's. */
export interface TokenClientEnv extends BrowserBasics {
  /** In [0, 1). */
  random: () => number
  /** Receives exceptions thrown by `onToken` and `onError`, which must not break the client. */
  reportError: (error: unknown) => void
  document: VisibilityTarget | undefined
  window: ListenerTarget | undefined
}

export interface TokenClientOptions {
  /** The service's token endpoint, e.g. `https://tokens.example.com/token/webrtc`. */
  url: string | URL
  /** `bandwidth` or `global`; the service's default when omitted. Sent as `?upstream=`. */
  upstream?: string
  /** The caller's credentials, asked for before every request (e.g. a fresh IdP access token). */
  headers: () => TokenClientHeaders | Promise<TokenClientHeaders>
  /** Called with every new token, including the first (a refresh that brings the same one back is not new). */
  onToken: (token: Token) => void
  /** Called with every failed request, and whether and when the client retries. */
  onError?: (error: TokenClientError) => void
  /** Per request, headers() included: a positive number of ms, at most 2^31-1. Default 10 000. */
  timeoutMs?: number
  /** Test seams; the defaults are the browser's. */
  env?: Partial<TokenClientEnv>
}

export interface TokenClient {
  /**
   * A token with time left: the held one, or the one being fetched (concurrent calls share one
   * request). The first call starts the refresh cycle. Rejects with a TokenClientError.
   */
  get: () => Promise<Token>
  /** Stops refreshing for good, aborts a request in flight and drops the token. */
  stop: () => void
}

/** The next fetch happens at this fraction of `expires_in`, spread by jitter... */
export const REFRESH_AT = 0.8
/** ...of plus or minus this much, so many tabs do not refresh in lockstep. */
export const REFRESH_JITTER = 0.05
/** Never refresh sooner than this after a response, so short-lived answers cannot cause a request loop. */
export const MIN_REFRESH_DELAY_MS = 1000
export const DEFAULT_TIMEOUT_MS = 10_000
// Retries start after BACKOFF_BASE_MS (1 s), the service's own base.
export { BACKOFF_BASE_MS } from '../token/backoff.js'
/** No retry without `Retry-After` waits longer than this, jitter included. */
export const BACKOFF_CAP_MS = 30_000
// The longest lifetime a token answer may claim (one day; the service never holds a longer one).
export { MAX_EXPIRES_IN_SECONDS }

interface BrowserGlobals {
  document?: VisibilityTarget
  addEventListener?: ListenerTarget['addEventListener']
  reportError?: (error: unknown) => void
}

function browserEnv (): TokenClientEnv {
  const g = globalThis as unknown as BrowserGlobals
  return {
    ...browserBasics(),
    random: () => Math.random(),
    reportError: (error) => {
      if (g.reportError !== undefined) g.reportError(error)
      else queueMicrotask(() => { throw error })
    },
    document: g.document,
    window: g.addEventListener === undefined ? undefined : g as ListenerTarget
  }
}

/** A failed attempt, before the retry decision turns it into a TokenClientError. */
type Problem = ServiceProblem

/** An instant on the wall clock and on the monotonic one. */
interface Mark { wall: number, monotonic: number }

/** `Retry-After` (delta-seconds or HTTP-date) in ms from `now`, capped; undefined when absent or invalid. */
export function parseRetryAfter (value: string | null, now: number): number | undefined {
  return parseRetryAfterHeader(value, now, RETRY_AFTER_CAP_MS)
}

/** The contract fields of a token response, or undefined when the body is not a usable token. */
export function parseToken (body: unknown): Token | undefined {
  if (typeof body !== 'object' || body === null) return undefined
  const b = body as Record<string, unknown>
  const { access_token: accessToken, token_type: tokenType, expires_in: expiresIn, expires_at: expiresAt, upstream } = b
  if (typeof accessToken !== 'string' || accessToken === '') return undefined
  if (typeof tokenType !== 'string' || tokenType.toLowerCase() !== 'bearer') return undefined
  if (typeof expiresIn !== 'number' || !(expiresIn > 0 && expiresIn <= MAX_EXPIRES_IN_SECONDS)) return undefined
  if (typeof expiresAt !== 'string' || typeof upstream !== 'string') return undefined
  return Object.freeze({ access_token: accessToken, token_type: 'Bearer', expires_in: expiresIn, expires_at: expiresAt, upstream })
}

function requestUrl (url: string | URL, upstream: string | undefined, base: string | undefined): string {
  const target = new URL(String(url), base)
  if (upstream !== undefined) target.searchParams.set('upstream', upstream)
  return target.href
}

export function createTokenClient (options: TokenClientOptions): TokenClient {
  if (typeof options?.headers !== 'function') throw new TypeError('createTokenClient: options.headers must be a function')
  if (typeof options.onToken !== 'function') throw new TypeError('createTokenClient: options.onToken must be a function')
  if (options.onError !== undefined && typeof options.onError !== 'function') {
    throw new TypeError('createTokenClient: options.onError must be a function')
  }
  const env: TokenClientEnv = { ...browserEnv(), ...options.env }
  const target = requestUrl(options.url, options.upstream, env.baseUrl)
  const timeoutMs = timeoutOption(options.timeoutMs, DEFAULT_TIMEOUT_MS, 'createTokenClient')

  // Every wait is counted from a mark on both clocks, and is over when either says so: the wall
  // clock sees the time a sleeping device or a throttled timer missed (the monotonic clock may
  // stand still), the monotonic clock the time a wall clock set back would hide.
  const mark = (): Mark => ({ wall: env.now(), monotonic: env.monotonic() })
  const since = (from: Mark): number => Math.max(env.now() - from.wall, env.monotonic() - from.monotonic)
  let token: Token | undefined
  /** Just before the request that brought `token`: its lifetime and refresh are counted from here. */
  let tokenFrom: Mark = { wall: 0, monotonic: 0 }
  /** After this long, `token` must no longer be used. */
  let lifetimeMs = 0
  /** After this long, fetch the next token. */
  let refreshInMs = 0
  /**
   * After a failure: no request for `waitMs` from `from`. A server's Retry-After outlasts coming
   * back online; after a 401 or another 4xx the client does not retry on its own (`retries` false).
   */
  let backoff: { from: Mark, waitMs: number, problem: Problem, retries: boolean } | undefined
  let failures = 0
  /** Refreshing on its own: from the first get() until a 401/4xx or stop(). */
  let running = false
  let stopped = false
  let inflight: Promise<Token> | undefined
  let controller: AbortController | undefined
  let timer: unknown
  let armed = false

  const safely = (fn: () => void): void => {
    try {
      fn()
    } catch (err) {
      env.reportError(err)
    }
  }

  function disarm (): void {
    if (armed) env.clearTimeout(timer)
    armed = false
  }

  /**
   * One timer at a time, capped, because longer delays would fire at once; in whole ms, so a wait
   * a fraction of a ms short of its end is a 1 ms timer, not a loop of 0 ms ones.
   */
  function arm (delayMs: number): void {
    disarm()
    armed = true
    timer = env.setTimeout(() => {
      armed = false
      check()
    }, Math.min(Math.max(Math.ceil(delayMs), 0), MAX_TIMER_MS))
  }

  /** Ms left of the backoff, or 0 when there is none. */
  function backoffLeft (): number {
    return backoff === undefined ? 0 : Math.max(backoff.waitMs - since(backoff.from), 0)
  }

  /** The timer, a visible tab and coming online all land here: fetch if due, else wait again. */
  function check (): void {
    if (!running || inflight !== undefined) return
    const waitMs = backoffLeft()
    if (waitMs > 0) return arm(waitMs)
    const age = since(tokenFrom)
    if (token === undefined || age >= refreshInMs) {
      // A failure is reported through onError and schedules its own retry.
      refresh().catch(noop)
      return
    }
    arm(refreshInMs - age)
  }

  function refresh (): Promise<Token> {
    inflight ??= attempt().finally(() => { inflight = undefined })
    return inflight
  }

  async function attempt (): Promise<Token> {
    disarm()
    // Counted from before the request, like the service's own expiry: never too late.
    const startedAt = mark()
    const abort = new AbortController()
    controller = abort
    const timeout = env.setTimeout(() => { abort.abort() }, timeoutMs)
    let outcome: Token | Problem
    try {
      outcome = await request(abort.signal)
    } finally {
      env.clearTimeout(timeout)
      controller = undefined
    }
    if (stopped) throw new TokenClientError('STOPPED', 'the token client was stopped')
    const result = 'access_token' in outcome ? succeed(outcome, startedAt) : outcome
    if ('access_token' in result) return result
    throw fail(result)
  }

  async function request (signal: AbortSignal): Promise<Token | Problem> {
    const sent = await send({ fetch: env.fetch, url: target, method: 'GET', headers: options.headers, signal, timeoutMs })
    if (!('response' in sent)) return sent
    const { response } = sent
    if (response.status !== 200) return await problemOf(response, env.now())
    let body: unknown
    try {
      body = await response.json()
    } catch {
      return signal.aborted ? lostProblem(signal, timeoutMs) : { code: 'BAD_RESPONSE', message: 'the token response is not JSON', status: 200 }
    }
    return parseToken(body) ?? { code: 'BAD_RESPONSE', message: 'the token response is not a token', status: 200 }
  }

  function succeed (fresh: Token, startedAt: Mark): Token | Problem {
    // The lifetime is counted on this device from `expires_in`, not from `expires_at`, so a skewed
    // device clock can neither cause a refetch loop nor overuse a token.
    const lifetime = fresh.expires_in * 1000
    const age = since(startedAt)
    if (age >= lifetime) return { code: 'TIMEOUT', message: 'the token expired before its answer arrived', status: 200 }
    const changed = fresh.access_token !== token?.access_token
    token = fresh
    tokenFrom = startedAt
    lifetimeMs = lifetime
    failures = 0
    backoff = undefined
    const fraction = REFRESH_AT + REFRESH_JITTER * (2 * clampUnit(env.random()) - 1)
    refreshInMs = Math.round(Math.max(lifetime * fraction, age + MIN_REFRESH_DELAY_MS))
    arm(refreshInMs - age)
    // The service answers with the token it holds until its own refresh: only a new one is news.
    if (changed) safely(() => { options.onToken(fresh) })
    return fresh
  }

  function fail (problem: Problem): TokenClientError {
    let retryInMs: number | undefined
    if (problem.code === 'UNAUTHORIZED' || problem.code === 'REJECTED') {
      // Retrying cannot help: the app must re-authenticate (or fix its configuration). For a
      // moment get() answers with this refusal, so an app that signs in again on every error
      // cannot drive requests faster than that.
      running = false
      disarm()
      backoff = { from: mark(), waitMs: MIN_REFRESH_DELAY_MS, problem, retries: false }
    } else {
      failures++
      const delay = backoffDelayMs(failures, () => env.random(), BACKOFF_CAP_MS)
      // Retry-After is a floor; the jitter on top keeps many clients from retrying in lockstep.
      retryInMs = Math.round(Math.max(delay, (problem.retryAfterMs ?? 0) * (1 + 0.2 * clampUnit(env.random()))))
      backoff = { from: mark(), waitMs: retryInMs, problem, retries: true }
      arm(retryInMs)
    }
    const error = new TokenClientError(problem.code, problem.message, { ...problem, retryInMs })
    const onError = options.onError
    if (onError !== undefined) safely(() => { onError(error) })
    return error
  }

  const onVisibility = (): void => {
    if (env.document?.visibilityState === 'visible') check()
  }
  const onOnline = (): void => {
    // Back online: a network failure's backoff is moot; any other still stands.
    if (backoff?.problem.code === 'NETWORK') backoff = undefined
    check()
  }
  env.document?.addEventListener('visibilitychange', onVisibility)
  env.window?.addEventListener('online', onOnline)

  return {
    async get () {
      if (stopped) throw new TokenClientError('STOPPED', 'the token client was stopped')
      running = true
      if (token !== undefined && since(tokenFrom) < lifetimeMs) {
        check()
        return token
      }
      if (inflight !== undefined) return await inflight
      const waitMs = backoffLeft()
      if (backoff !== undefined && waitMs > 0) {
        // Inside a backoff: no request, the same failure with the time left.
        const { problem, retries } = backoff
        throw new TokenClientError(problem.code, problem.message, { ...problem, retryInMs: retries ? waitMs : undefined })
      }
      return await refresh()
    },
    stop () {
      if (stopped) return
      stopped = true
      running = false
      token = undefined
      disarm()
      controller?.abort()
      env.document?.removeEventListener('visibilitychange', onVisibility)
      env.window?.removeEventListener('online', onOnline)
    }
  }
}
