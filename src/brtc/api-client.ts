// The client of Bandwidth's BRTC Endpoints API (`{BRTC_API_URL}/accounts/{accountId}/endpoints`):
// create, list (one page), get, delete, authorised with the `bandwidth` upstream's access token.
//
// Why Node's fetch and not the official `bandwidth-sdk` (its generated `EndpointsApi`, on axios):
// four calls; each needs a strict per-attempt timeout on the injected clock, no redirect ever
// followed with the account token, a bounded response body that is never logged nor put in an
// error, and a classified failure (the same classes as the token requests); a generated axios
// client would bring a dependency tree and error objects that carry the request, its headers
// and the response body, which is what must never reach a log here.
//
// Every failure is a BrtcApiError with a class and a message that never carries a body, a token
// or a header. A provider `429` closes that operation for its `Retry-After` (at most 60 s, 1 s
// when absent): calls of the same operation meanwhile fail at once without a request, so the
// service honours the throttle instead of hammering it; other operations (a delete while creates
// are throttled) still go through.
import { systemClock, type Clock } from '../lib/clock.js'
import type { UpstreamErrorClass } from '../lib/errors.js'
import { discard, exchange, readJson } from '../lib/http.js'
import { parseRetryAfter } from '../lib/retry-after.js'
import { Secret } from '../lib/secret.js'
import { isRecord } from '../lib/values.js'
import { RETRY_AFTER_CAP_MS } from '../token/backoff.js'

export type BrtcOperation = 'create' | 'list' | 'get' | 'delete'

/** A 429 without a usable Retry-After closes the operation this long. */
export const DEFAULT_THROTTLE_MS = 1000
/** Largest response body read: a page of 1000 endpoints is a few hundred KiB. */
export const MAX_BODY_BYTES = 4 * 1024 * 1024
/** Endpoints per list page (the provider allows 1 to 1000). */
export const PAGE_LIMIT = 1000

/** An endpoint as the service uses it. Never holds its token (only a create returns one). */
export interface BrtcEndpoint {
  endpointId: string
  /** `CONNECTED` or `DISCONNECTED` (whether a device is connected). */
  status: string
  /** Wall-clock ms of `expirationTimestamp`. */
  expiresAtMs: number
  tag: string | undefined
}

/** What a create returns: the endpoint and its token, held as a Secret. */
export interface CreatedEndpoint extends BrtcEndpoint {
  token: Secret
}

export interface EndpointPage {
  endpoints: BrtcEndpoint[]
  /** `afterCursor` of the next page (from the `next` link); undefined on the last page. */
  nextCursor: string | undefined
}

export class BrtcApiError extends Error {
  readonly operation: BrtcOperation
  readonly errorClass: UpstreamErrorClass
  readonly status: number | undefined
  /** How long to wait before the next call of this operation (a 429's or 5xx's Retry-After), ms. */
  readonly retryAfterMs: number | undefined

  constructor (operation: BrtcOperation, errorClass: UpstreamErrorClass, message: string, details: { status?: number, retryAfterMs?: number } = {}) {
    super(`BRTC ${operation}: ${message}`)
    this.name = 'BrtcApiError'
    this.operation = operation
    this.errorClass = errorClass
    this.status = details.status
    this.retryAfterMs = details.retryAfterMs
  }
}

export interface BrtcApiClientOptions {
  /** The API base, e.g. https://api.bandwidth.com/v2. */
  apiUrl: URL
  accountId: string
  /**
   * The `bandwidth` upstream's access token, asked for before every call (the token manager's
   * cache: single-flight and refresh-ahead). Its rejection (an AppError) is passed through.
   */
  accessToken: () => Promise<Secret>
  /** UPSTREAM_TIMEOUT_MS: each call (headers and body) is aborted after this. */
  timeoutMs: number
  fetch?: typeof globalThis.fetch
  clock?: Clock
  /** Endpoints per list page, 1 to 1000 (default PAGE_LIMIT). */
  pageLimit?: number
}

export interface CreateRequest {
  tag: string
  eventCallbackUrl?: URL | undefined
}

interface Answer { status: number, body: unknown }

/** An endpoint of a create, get or list answer, or undefined when it lacks what the service needs. */
export function parseEndpoint (value: unknown): BrtcEndpoint | undefined {
  if (!isRecord(value)) return undefined
  const { endpointId, status, expirationTimestamp, tag } = value
  // Letters, digits and dashes only: the id goes into a DELETE's path, where a `.` or `..`
  // segment (which percent-encoding leaves as it is) would name another resource.
  if (typeof endpointId !== 'string' || !/^[A-Za-z0-9-]{1,200}$/.test(endpointId)) return undefined
  if (typeof expirationTimestamp !== 'string') return undefined
  const expiresAtMs = Date.parse(expirationTimestamp)
  if (Number.isNaN(expiresAtMs)) return undefined
  return {
    endpointId,
    status: typeof status === 'string' ? status : 'UNKNOWN',
    expiresAtMs,
    tag: typeof tag === 'string' ? tag : undefined
  }
}

/** The `afterCursor` of the `next` link; only the cursor is used, never the link's host. */
export function nextCursor (links: unknown): string | undefined {
  if (!Array.isArray(links)) return undefined
  for (const link of links) {
    if (!isRecord(link) || link.rel !== 'next' || typeof link.href !== 'string') continue
    const cursor = URL.canParse(link.href, 'http://x') ? new URL(link.href, 'http://x').searchParams.get('afterCursor') : null
    if (cursor !== null && cursor !== '') return cursor
  }
  return undefined
}

/**
 * Reads the account's endpoint list page by page through `read` (which may retry or map errors),
 * handing each page to `onPage`: at most `maxPages`, and never a cursor twice, so a provider whose
 * list does not end cannot loop a reader. True when the list ended; false when it was cut short.
 */
export async function eachPage (
  read: (afterCursor: string | undefined) => Promise<EndpointPage>,
  maxPages: number,
  onPage: (page: EndpointPage) => void
): Promise<boolean> {
  const seen = new Set<string>()
  let cursor: string | undefined
  for (let pages = 1; ; pages++) {
    const page = await read(cursor)
    onPage(page)
    cursor = page.nextCursor
    if (cursor === undefined) return true
    if (seen.has(cursor) || pages >= maxPages) return false
    seen.add(cursor)
  }
}

export class BrtcApiClient {
  readonly #base: string
  readonly #accessToken: () => Promise<Secret>
  readonly #timeoutMs: number
  readonly #fetch: typeof globalThis.fetch
  readonly #clock: Clock
  readonly #pageLimit: number
  /** Per operation: monotonic ms before which a provider 429 asked us not to call again. */
  readonly #throttledUntil: Record<BrtcOperation, number> = { create: 0, list: 0, get: 0, delete: 0 }
  /** Aborted by close(): every call in flight ends, and every later one fails at once. */
  readonly #closing = new AbortController()

  constructor (opts: BrtcApiClientOptions) {
    if (!(opts.timeoutMs > 0)) throw new RangeError('timeoutMs must be positive')
    this.#base = `${opts.apiUrl.href.replace(/\/+$/, '')}/accounts/${encodeURIComponent(opts.accountId)}/endpoints`
    this.#accessToken = opts.accessToken
    this.#timeoutMs = opts.timeoutMs
    this.#fetch = opts.fetch ?? globalThis.fetch
    this.#clock = opts.clock ?? systemClock
    this.#pageLimit = opts.pageLimit ?? PAGE_LIMIT
    if (!(this.#pageLimit >= 1 && this.#pageLimit <= PAGE_LIMIT)) throw new RangeError(`pageLimit must be from 1 to ${PAGE_LIMIT}`)
  }

  /** Shutting down: calls waiting on the provider end now (their callers get a 503), and no new one starts. */
  close (): void {
    this.#closing.abort()
  }

  /** POST: a WEBRTC, BIDIRECTIONAL endpoint with this tag. */
  async create (request: CreateRequest, signal?: AbortSignal): Promise<CreatedEndpoint> {
    const body = {
      type: 'WEBRTC',
      direction: 'BIDIRECTIONAL',
      tag: request.tag,
      ...(request.eventCallbackUrl !== undefined && { eventCallbackUrl: request.eventCallbackUrl.href })
    }
    const answer = await this.#call('create', 'POST', this.#base, signal, JSON.stringify(body))
    const data = isRecord(answer.body) ? answer.body.data : undefined
    const endpoint = parseEndpoint(data)
    const token = isRecord(data) ? data.token : undefined
    if (answer.status !== 201 && answer.status !== 200) throw unexpected('create', answer.status)
    if (endpoint === undefined || typeof token !== 'string' || token === '') {
      throw new BrtcApiError('create', 'bad_response', 'the answer is not an endpoint with a token', { status: answer.status })
    }
    return { ...endpoint, token: new Secret(token) }
  }

  /** GET one page of the account's WEBRTC endpoints. */
  async listPage (afterCursor?: string, signal?: AbortSignal): Promise<EndpointPage> {
    const query = new URLSearchParams({ type: 'WEBRTC', limit: String(this.#pageLimit) })
    if (afterCursor !== undefined) query.set('afterCursor', afterCursor)
    const answer = await this.#call('list', 'GET', `${this.#base}?${query.toString()}`, signal)
    if (answer.status !== 200 || !isRecord(answer.body) || !Array.isArray(answer.body.data)) {
      throw new BrtcApiError('list', 'bad_response', 'the answer is not a page of endpoints', { status: answer.status })
    }
    const endpoints: BrtcEndpoint[] = []
    // An item the service cannot read is left alone: never listed to a caller, never swept.
    for (const item of answer.body.data) {
      const endpoint = parseEndpoint(item)
      if (endpoint !== undefined) endpoints.push(endpoint)
    }
    return { endpoints, nextCursor: nextCursor(answer.body.links) }
  }

  /** GET one endpoint; undefined when the provider does not know it (404). */
  async get (endpointId: string, signal?: AbortSignal): Promise<BrtcEndpoint | undefined> {
    const answer = await this.#call('get', 'GET', `${this.#base}/${encodeURIComponent(endpointId)}`, signal, undefined, true)
    if (answer.status === 404) return undefined
    const endpoint = parseEndpoint(isRecord(answer.body) ? answer.body.data : undefined)
    if (answer.status !== 200 || endpoint === undefined) {
      throw new BrtcApiError('get', 'bad_response', 'the answer is not an endpoint', { status: answer.status })
    }
    return endpoint
  }

  /** DELETE one endpoint: 'deleted', or 'gone' when the provider no longer knows it (404). */
  async delete (endpointId: string, signal?: AbortSignal): Promise<'deleted' | 'gone'> {
    const answer = await this.#call('delete', 'DELETE', `${this.#base}/${encodeURIComponent(endpointId)}`, signal, undefined, true)
    if (answer.status === 404) return 'gone'
    if (answer.status < 200 || answer.status > 299) throw unexpected('delete', answer.status)
    return 'deleted'
  }

  /** One request: the account token, a timeout on the injected clock, a bounded body, classified failures. */
  async #call (operation: BrtcOperation, method: string, url: string, signal: AbortSignal | undefined, body?: string, notFoundIsAnswer = false): Promise<Answer> {
    if (this.#closing.signal.aborted) throw new BrtcApiError(operation, 'network', 'shutting down; not called')
    const waitMs = this.#throttledUntil[operation] - this.#clock.monotonic()
    if (waitMs > 0) throw new BrtcApiError(operation, 'throttled', 'throttled by the provider; not called again yet', { retryAfterMs: waitMs })
    const token = await this.#accessToken()
    return await exchange({
      fetch: this.#fetch,
      url,
      init: {
        method,
        headers: {
          Accept: 'application/json',
          Authorization: `Bearer ${token.reveal()}`,
          ...(body !== undefined && { 'Content-Type': 'application/json' })
        },
        ...(body !== undefined && { body })
      },
      timeoutMs: this.#timeoutMs,
      clock: this.#clock,
      signal: signal === undefined ? this.#closing.signal : AbortSignal.any([signal, this.#closing.signal])
    }, async (res) => await this.#read(operation, res, notFoundIsAnswer),
    (err) => err instanceof BrtcApiError,
    ({ errorClass, message }) => new BrtcApiError(operation, errorClass, message))
  }

  async #read (operation: BrtcOperation, res: Response, notFoundIsAnswer: boolean): Promise<Answer> {
    const { status } = res
    if ((status >= 200 && status < 300) || (status === 404 && notFoundIsAnswer)) {
      if (status === 204 || status === 404) {
        await discard(res)
        return { status, body: undefined }
      }
      return { status, body: await readJson(res, MAX_BODY_BYTES) }
    }
    await discard(res)
    if (status === 401 || status === 403) {
      throw new BrtcApiError(operation, 'credentials_rejected', `the provider refused the account token (HTTP ${status})`, { status })
    }
    const retryAfterMs = status === 429 || status >= 500
      ? parseRetryAfter(res.headers.get('retry-after'), this.#clock.wall(), RETRY_AFTER_CAP_MS)
      : undefined
    if (status === 429) {
      const waitMs = retryAfterMs ?? DEFAULT_THROTTLE_MS
      this.#throttledUntil[operation] = this.#clock.monotonic() + waitMs
      throw new BrtcApiError(operation, 'throttled', 'HTTP 429', { status, retryAfterMs: waitMs })
    }
    if (status >= 500) throw new BrtcApiError(operation, 'server_error', `HTTP ${status}`, { status, ...(retryAfterMs !== undefined && { retryAfterMs }) })
    throw unexpected(operation, status)
  }
}

function unexpected (operation: BrtcOperation, status: number): BrtcApiError {
  return status >= 400 && status < 500
    ? new BrtcApiError(operation, 'client_error', `HTTP ${status}`, { status })
    : new BrtcApiError(operation, 'bad_response', `unexpected HTTP ${status}`, { status })
}
