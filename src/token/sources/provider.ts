// The provider: one OAuth 2.0 client-credentials request to an upstream's token endpoint,
// exactly as the contract specifies, and a strict reading of the answer. The last link of every
// source chain. Every failure becomes an UpstreamFetchError with a class (for backoff, /readyz
// and metrics) and a message that never carries the response body, the client secret or a token.
//
// Listeners: 'fetched' receives the outcome and duration of every request sent to the provider.
import { EventEmitter } from 'node:events'
import type { UpstreamConfig } from '../../config/types.js'
import { systemClock, type Clock } from '../../lib/clock.js'
import { discard, exchange, isJsonMediaType, readJson } from '../../lib/http.js'
import { parseRetryAfter } from '../../lib/retry-after.js'
import { Secret } from '../../lib/secret.js'
import { isRecord, MAX_EXPIRES_IN_SECONDS } from '../../lib/values.js'
import { RETRY_AFTER_CAP_MS } from '../backoff.js'
import { UpstreamFetchError, type FetchOutcome, type TokenSource, type UpstreamToken } from '../types.js'

/** Largest response body read; token responses are a few KiB, so more is not a token. */
export const MAX_BODY_BYTES = 64 * 1024

export interface ProviderSourceOptions {
  /** The upstream's current settings (credentials may change on a reload). */
  upstream: () => UpstreamConfig
  /** UPSTREAM_TIMEOUT_MS: the whole attempt (connect, headers and body) is aborted after this. */
  timeoutMs: number
  fetch?: typeof globalThis.fetch
  clock?: Clock
  /**
   * Asked when the provider rejects the credentials: re-reads them (a rotated secret file). When
   * the credentials in force then differ from those the request sent, because of this re-read or
   * one that landed while the request was in flight, it is retried at once with the new ones
   * instead of waiting out the credentials back-off.
   */
  recheckCredentials?: () => Promise<unknown>
}

/** `Basic base64(utf8(clientId ":" clientSecret))` of the raw strings, as the provider documents. */
export function basicAuthorization (clientId: string, clientSecret: Secret): string {
  return 'Basic ' + Buffer.from(`${clientId}:${clientSecret.reveal()}`, 'utf8').toString('base64')
}

/** `grant_type=client_credentials` plus `scope=` when set, form-encoded; nothing else. */
export function tokenRequestBody (scope: string | undefined): string {
  const form = new URLSearchParams({ grant_type: 'client_credentials' })
  if (scope !== undefined && scope !== '') form.set('scope', scope)
  return form.toString()
}

export class ProviderSource extends EventEmitter<{ fetched: [FetchOutcome, number] }> implements TokenSource {
  readonly #upstream: () => UpstreamConfig
  readonly #timeoutMs: number
  readonly #fetch: typeof globalThis.fetch
  readonly #clock: Clock
  readonly #recheckCredentials: (() => Promise<unknown>) | undefined

  constructor (opts: ProviderSourceOptions) {
    super()
    if (!(opts.timeoutMs > 0)) throw new RangeError('timeoutMs must be positive')
    this.#upstream = opts.upstream
    this.#timeoutMs = opts.timeoutMs
    this.#fetch = opts.fetch ?? globalThis.fetch
    this.#clock = opts.clock ?? systemClock
    this.#recheckCredentials = opts.recheckCredentials
  }

  async fetch (_last: UpstreamToken | undefined, signal: AbortSignal): Promise<UpstreamToken> {
    const sent = this.#upstream()
    try {
      return await this.#attempt(sent, signal)
    } catch (err) {
      const rejected = err instanceof UpstreamFetchError && err.errorClass === 'credentials_rejected'
      if (!rejected || signal.aborted || this.#recheckCredentials === undefined) throw err
      await this.#recheckCredentials()
      const now = this.#upstream()
      if (signal.aborted || (now.clientId === sent.clientId && now.clientSecret.equals(sent.clientSecret))) throw err
      return await this.#attempt(now, signal)
    }
  }

  async #attempt (upstream: UpstreamConfig, signal: AbortSignal): Promise<UpstreamToken> {
    const started = this.#clock.monotonic()
    try {
      const token = await this.#request(upstream, signal)
      this.#report('success', started)
      return token
    } catch (err) {
      this.#report(err instanceof UpstreamFetchError ? err.errorClass : 'network', started)
      throw err
    }
  }

  /** A throwing listener (metrics) must not turn a good token into a failure. */
  #report (outcome: FetchOutcome, started: number): void {
    try {
      this.emit('fetched', outcome, this.#clock.monotonic() - started)
    } catch {
      // Nothing to log it with here; the listener is the one at fault.
    }
  }

  async #request (upstream: UpstreamConfig, signal: AbortSignal): Promise<UpstreamToken> {
    const clock = this.#clock
    // Expiry counts from before the request is sent, so latency can only shorten what we promise.
    const startedAt = clock.monotonic()
    return await exchange({
      fetch: this.#fetch,
      url: upstream.tokenUrl,
      init: {
        method: 'POST',
        headers: {
          'Content-Type': 'application/x-www-form-urlencoded',
          Accept: 'application/json',
          Authorization: basicAuthorization(upstream.clientId, upstream.clientSecret)
        },
        body: tokenRequestBody(upstream.scope)
      },
      timeoutMs: this.#timeoutMs,
      clock,
      signal
    }, async (res) => await readTokenResponse(res, startedAt, upstream.expiryMarginSeconds, clock),
    (err) => err instanceof UpstreamFetchError,
    ({ errorClass, message }) => new UpstreamFetchError(errorClass, message))
  }
}

async function readTokenResponse (res: Response, startedAt: number, marginSeconds: number, clock: Clock): Promise<UpstreamToken> {
  const { status } = res
  if (status >= 200 && status < 300) return await readSuccess(res, startedAt, marginSeconds)
  if (status === 400 || status === 401) {
    const code = status === 400 ? await oauthErrorCode(res) : await discard(res)
    if (status === 401 || code === 'invalid_client' || code === 'invalid_grant') {
      throw new UpstreamFetchError('credentials_rejected', `client credentials rejected (HTTP ${status})`, { status })
    }
    throw new UpstreamFetchError('client_error', 'HTTP 400', { status })
  }
  await discard(res)
  const retryAfterMs = status === 429 || status === 503
    ? parseRetryAfter(res.headers.get('retry-after'), clock.wall(), RETRY_AFTER_CAP_MS)
    : undefined
  if (status === 429) throw new UpstreamFetchError('throttled', 'HTTP 429', { status, retryAfterMs })
  if (status >= 500) throw new UpstreamFetchError('server_error', `HTTP ${status}`, { status, retryAfterMs })
  if (status >= 400) throw new UpstreamFetchError('client_error', `HTTP ${status}`, { status })
  throw new UpstreamFetchError('bad_response', `unexpected HTTP ${status}`, { status })
}

async function readSuccess (res: Response, startedAt: number, marginSeconds: number): Promise<UpstreamToken> {
  const status = res.status
  const bad = (why: string): UpstreamFetchError => new UpstreamFetchError('bad_response', why, { status })
  if (!isJsonMediaType(res.headers.get('content-type'))) {
    await discard(res)
    throw bad('response is not application/json')
  }
  const body = await readJson(res, MAX_BODY_BYTES)
  if (!isRecord(body)) throw bad('response is not a JSON object')
  const { access_token: accessToken, token_type: tokenType, expires_in: expiresIn, access_token_id: tokenId } = body
  if (typeof accessToken !== 'string' || accessToken === '') throw bad('access_token missing or empty')
  if (typeof tokenType !== 'string' || tokenType.toLowerCase() !== 'bearer') throw bad('token_type is not Bearer')
  if (typeof expiresIn !== 'number' || !(expiresIn > 0 && expiresIn <= MAX_EXPIRES_IN_SECONDS)) {
    throw bad('expires_in missing or out of range')
  }
  if (expiresIn - marginSeconds < 1) throw bad('expires_in not longer than the expiry margin')
  return {
    accessToken: new Secret(accessToken),
    tokenType: 'Bearer',
    // Logged, so only a plausible identifier is kept; anything else is dropped, not fatal.
    tokenId: typeof tokenId === 'string' && tokenId !== '' && tokenId.length <= 256 ? tokenId : undefined,
    expiresInSeconds: expiresIn,
    expiresAtMonotonic: startedAt + expiresIn * 1000
  }
}

/** The OAuth `error` code of a 400 answer, if it is JSON and has one. */
async function oauthErrorCode (res: Response): Promise<string | undefined> {
  if (!isJsonMediaType(res.headers.get('content-type'))) return await discard(res)
  const body = await readJson(res, MAX_BODY_BYTES)
  return isRecord(body) && typeof body.error === 'string' ? body.error : undefined
}
