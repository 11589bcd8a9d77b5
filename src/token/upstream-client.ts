// One client-credentials request to a provider's token endpoint, exactly as the contract
// specifies, and a strict reading of the answer. Every failure becomes an UpstreamFetchError
// with a class (for backoff, /readyz and metrics) and a message that never carries the
// response body, the client secret or a token.
import type { UpstreamErrorClass } from '../lib/errors.js'
import { Secret } from '../lib/secret.js'
import { parseRetryAfter } from './backoff.js'
import type { Clock, UpstreamToken } from './types.js'

/** Longest lifetime accepted from a provider (one day); anything longer is a broken answer. */
export const MAX_EXPIRES_IN_SECONDS = 86_400
/** Largest response body read; token responses are a few KiB, so more is not a token. */
export const MAX_BODY_BYTES = 64 * 1024

export interface FetchUpstreamTokenOptions {
  url: URL | string
  clientId: string
  clientSecret: Secret
  /** Sent as `scope=`; undefined or empty sends none. */
  scope: string | undefined
  /** Whole attempt (connect, headers and body) is aborted after this. */
  timeoutMs: number
  /** The upstream's expiry margin; a lifetime that cannot outlast it by 1 s is refused. */
  marginSeconds: number
  fetch: typeof globalThis.fetch
  clock: Clock
  /** Aborts the attempt from outside (shutdown). */
  signal?: AbortSignal
}

export class UpstreamFetchError extends Error {
  readonly errorClass: UpstreamErrorClass
  readonly retryAfterSeconds: number | undefined
  readonly status: number | undefined

  constructor (errorClass: UpstreamErrorClass, message: string, details: { status?: number, retryAfterSeconds?: number } = {}) {
    super(message)
    this.name = 'UpstreamFetchError'
    this.errorClass = errorClass
    this.status = details.status
    this.retryAfterSeconds = details.retryAfterSeconds
  }
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

export async function fetchUpstreamToken (opts: FetchUpstreamTokenOptions): Promise<UpstreamToken> {
  const { clock, signal } = opts
  // One controller aborts the attempt, fired by our timer on the injected clock (so tests
  // drive it) or by the caller's signal; `timedOut` tells the two apart.
  const controller = new AbortController()
  let timedOut = false
  const timer = clock.setTimer(() => {
    timedOut = true
    controller.abort()
  }, opts.timeoutMs)
  const onAbort = (): void => { controller.abort() }
  signal?.addEventListener('abort', onAbort, { once: true })
  if (signal?.aborted === true) controller.abort()
  // Expiry counts from before the request is sent, so latency can only shorten what we promise.
  const startedAt = clock.monotonic()
  let failure: UpstreamFetchError
  try {
    const res = await opts.fetch(opts.url, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-www-form-urlencoded',
        Accept: 'application/json',
        Authorization: basicAuthorization(opts.clientId, opts.clientSecret)
      },
      body: tokenRequestBody(opts.scope),
      // Credentials are never re-sent to wherever a redirect points; a 3xx is a bad response.
      redirect: 'manual',
      signal: controller.signal
    })
    return await readTokenResponse(res, startedAt, opts)
  } catch (err) {
    failure = asFetchError(err, timedOut, signal?.aborted === true, opts.timeoutMs)
  } finally {
    clock.clearTimer(timer)
    signal?.removeEventListener('abort', onAbort)
  }
  // Thrown after the try statement, not inside catch, so every path through it is reachable.
  throw failure
}

function asFetchError (err: unknown, timedOut: boolean, abortedOutside: boolean, timeoutMs: number): UpstreamFetchError {
  if (err instanceof UpstreamFetchError) return err
  if (timedOut) return new UpstreamFetchError('timeout', `no complete response within ${timeoutMs} ms`)
  if (abortedOutside) return new UpstreamFetchError('network', 'request aborted')
  return new UpstreamFetchError('network', `request failed${networkCode(err)}`)
}

async function readTokenResponse (res: Response, startedAt: number, opts: FetchUpstreamTokenOptions): Promise<UpstreamToken> {
  const { status } = res
  if (status >= 200 && status < 300) return await readSuccess(res, startedAt, opts.marginSeconds)
  if (status === 400 || status === 401) {
    const code = status === 400 ? await oauthErrorCode(res) : await discard(res)
    if (status === 401 || code === 'invalid_client' || code === 'invalid_grant') {
      throw new UpstreamFetchError('credentials_rejected', `client credentials rejected (HTTP ${status})`, { status })
    }
    throw new UpstreamFetchError('client_error', 'HTTP 400', { status })
  }
  await discard(res)
  const retryAfterSeconds = status === 429 || status === 503
    ? parseRetryAfter(res.headers.get('retry-after'), opts.clock.wall())
    : undefined
  if (status === 429) throw new UpstreamFetchError('throttled', 'HTTP 429', { status, retryAfterSeconds })
  if (status >= 500) throw new UpstreamFetchError('server_error', `HTTP ${status}`, { status, retryAfterSeconds })
  if (status >= 400) throw new UpstreamFetchError('client_error', `HTTP ${status}`, { status })
  throw new UpstreamFetchError('bad_response', `unexpected HTTP ${status}`, { status })
}

async function readSuccess (res: Response, startedAt: number, marginSeconds: number): Promise<UpstreamToken> {
  const status = res.status
  const bad = (why: string): UpstreamFetchError => new UpstreamFetchError('bad_response', why, { status })
  if (!isJson(res.headers.get('content-type'))) {
    await discard(res)
    throw bad('response is not application/json')
  }
  const body = parseJsonObject(await readText(res))
  if (body === undefined) throw bad('response is not a JSON object')
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

/** `application/json`, with or without parameters such as `; charset=UTF-8`. */
function isJson (contentType: string | null): boolean {
  return contentType?.split(';')[0]?.trim().toLowerCase() === 'application/json'
}

/** The OAuth `error` code of a 400 answer, if it is JSON and has one. */
async function oauthErrorCode (res: Response): Promise<string | undefined> {
  if (!isJson(res.headers.get('content-type'))) return await discard(res)
  const error = parseJsonObject(await readText(res))?.error
  return typeof error === 'string' ? error : undefined
}

function parseJsonObject (text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined
  try {
    const value: unknown = JSON.parse(text)
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : undefined
  } catch {
    return undefined
  }
}

/** The body as UTF-8, or undefined when it exceeds MAX_BODY_BYTES or is not valid UTF-8. */
async function readText (res: Response): Promise<string | undefined> {
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of res.body ?? []) {
    size += chunk.byteLength
    if (size > MAX_BODY_BYTES) return undefined // leaving the loop cancels the stream
    chunks.push(chunk)
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks))
  } catch {
    return undefined
  }
}

/** Releases an unread body so the connection can be reused. Always resolves to undefined. */
async function discard (res: Response): Promise<undefined> {
  try {
    await res.body?.cancel()
  } catch {
    // A body that errors while being cancelled has nothing we need.
  }
  return undefined
}

/** A system error code such as ` (ECONNREFUSED)`, safe to log; never the error's message. */
function networkCode (err: unknown): string {
  const code = (err as { cause?: { code?: unknown } } | null)?.cause?.code
  return typeof code === 'string' && /^[A-Z][A-Z0-9_]*$/.test(code) ? ` (${code})` : ''
}
