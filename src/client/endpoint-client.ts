// The browser client of per-user endpoint tokens (the service's /endpoints/webrtc routes, when
// BRTC_ACCOUNT_ID is set): `createEndpoint()` gets a WebRTC endpoint and its token for the signed-in
// user, `list()` the user's live endpoints, `release()` deletes what this page created. The page
// should release on sign-out; on `pagehide` (tab closed, navigation) the client itself sends the
// deletes with `fetch(..., { keepalive: true })`, so they outlive the page where the browser
// allows it. An endpoint left behind (a crash, a browser that drops the request) expires on its
// own and the service sweeps it.
//
// Same rules as the token client: the endpoint token travels only from the response body to the
// value `createEndpoint()` resolves with, never into a URL, storage, the console or an error (errors
// carry statuses and codes, never a response body). Only endpoint ids are held. No retries of
// its own: creating is the app's decision; errors say when a retry may succeed (`retryAfterMs`).
// Bundled into the served /client/token-client.js module (re-exported by token-client.ts).
import { isRecord } from '../lib/values.js'
import { browserBasics, lostProblem, problemOf, send, timeoutOption, type BrowserBasics, type ServiceProblem } from './service-reply.js'

/** A created endpoint as POST /endpoints/webrtc returns it. Frozen. */
export interface EndpointToken {
  readonly endpoint_id: string
  /** The endpoint's token, for the WebRTC SDK. Bound to this one endpoint. */
  readonly token: string
  /** Whole seconds from the response until the endpoint expires. */
  readonly expires_in: number
  readonly expires_at: string
}

/** One of the caller's live endpoints, as GET /endpoints/webrtc lists it. Frozen. */
export interface EndpointSummary {
  readonly endpoint_id: string
  readonly expires_at: string
  readonly status: string
}

export type EndpointClientErrorCode =
  /** 401: the caller's credentials were refused; re-authenticate. */
  | 'UNAUTHORIZED'
  /** 409: the caller already holds as many endpoints as allowed; release one. */
  | 'LIMIT'
  /** Another 4xx (e.g. the mode is off: 404 on create or list). */
  | 'REJECTED'
  /** 429: try again after `retryAfterMs`. */
  | 'RATE_LIMITED'
  /** 503: the provider is unavailable or throttling; try again after `retryAfterMs`. */
  | 'UNAVAILABLE'
  /** Another 5xx (502: the service's provider credentials are misconfigured). */
  | 'SERVER_ERROR'
  /** An answer that is not what the route returns. */
  | 'BAD_RESPONSE'
  /** The request failed (offline, refused by CORS). */
  | 'NETWORK'
  /** No answer within `timeoutMs`. */
  | 'TIMEOUT'
  /** `options.headers()` threw or rejected (see `cause`). */
  | 'HEADERS'
  /** stop() was called. */
  | 'STOPPED'

export class EndpointClientError extends Error {
  readonly code: EndpointClientErrorCode
  /** HTTP status of the service's answer, when there was one. */
  readonly status: number | undefined
  /** The service's error `code` (e.g. `ENDPOINT_LIMIT`), when it sent one. */
  readonly serviceCode: string | undefined
  /** The service's `Retry-After`, in ms, when it sent one. */
  readonly retryAfterMs: number | undefined

  constructor (code: EndpointClientErrorCode, message: string, details: {
    status?: number | undefined
    serviceCode?: string | undefined
    retryAfterMs?: number | undefined
    cause?: unknown
  } = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause })
    this.name = 'EndpointClientError'
    this.code = code
    this.status = details.status
    this.serviceCode = details.serviceCode
    this.retryAfterMs = details.retryAfterMs
  }
}

/** What `headers()` may return: the `HeadersInit` of fetch. */
export type EndpointClientHeaders = NonNullable<RequestInit['headers']>

/** An event source such as `window` (for `pagehide`). */
export interface PageHideTarget {
  addEventListener: (type: 'pagehide', listener: () => void) => void
  removeEventListener: (type: 'pagehide', listener: () => void) => void
}

/** Everything the client takes from its environment; the defaults are the browser's. */
export interface EndpointClientEnv extends BrowserBasics {
  window: PageHideTarget | undefined
}

export interface EndpointClientOptions {
  /** The service's endpoints route, e.g. `https://tokens.example.com/endpoints/webrtc`. */
  url: string | URL
  /** The caller's credentials, asked for before every request (e.g. a fresh IdP access token). */
  headers: () => EndpointClientHeaders | Promise<EndpointClientHeaders>
  /** Delete this page's endpoints on `pagehide` (default true). */
  releaseOnPageHide?: boolean
  /** Per request, headers() included: a positive number of ms, at most 2^31-1. Default 10 000. */
  timeoutMs?: number
  /** Test seams; the defaults are the browser's. */
  env?: Partial<EndpointClientEnv>
}

export interface EndpointClient {
  /** A new endpoint and its token. Rejects with an EndpointClientError. */
  createEndpoint: () => Promise<EndpointToken>
  /** The caller's live endpoints (this page's and any other of the same user). */
  list: () => Promise<EndpointSummary[]>
  /**
   * Deletes one endpoint of the caller, or, without an id, every endpoint this client created and
   * has not released yet (on sign-out), once the creates still in flight have their answers. The
   * service's 404 counts as released. Rejects with the first failure; what failed stays held, so
   * a later release (or pagehide) tries again.
   */
  release: (endpointId?: string) => Promise<void>
  /** The endpoint ids this client created and has not released. */
  held: () => string[]
  /** Stops listening for pagehide and refuses further calls; releases nothing. */
  stop: () => void
}

export const DEFAULT_ENDPOINT_TIMEOUT_MS = 10_000

function browserEnv (): EndpointClientEnv {
  const g = globalThis as unknown as { addEventListener?: PageHideTarget['addEventListener'] }
  return { ...browserBasics(), window: g.addEventListener === undefined ? undefined : g as PageHideTarget }
}

/** The contract fields of a create reply, or undefined when it is not one. */
export function parseEndpointToken (body: unknown): EndpointToken | undefined {
  if (!isRecord(body)) return undefined
  const { endpoint_id: endpointId, token, expires_in: expiresIn, expires_at: expiresAt } = body
  if (typeof endpointId !== 'string' || endpointId === '' || typeof token !== 'string' || token === '') return undefined
  if (typeof expiresIn !== 'number' || !Number.isFinite(expiresIn) || expiresIn <= 0 || typeof expiresAt !== 'string') return undefined
  return Object.freeze({ endpoint_id: endpointId, token, expires_in: expiresIn, expires_at: expiresAt })
}

/** The endpoints of a list reply, or undefined when it is not one. */
export function parseEndpointList (body: unknown): EndpointSummary[] | undefined {
  if (!isRecord(body) || !Array.isArray(body.endpoints)) return undefined
  const out: EndpointSummary[] = []
  for (const item of body.endpoints) {
    if (!isRecord(item)) return undefined
    const { endpoint_id: endpointId, expires_at: expiresAt, status } = item
    if (typeof endpointId !== 'string' || typeof expiresAt !== 'string' || typeof status !== 'string') return undefined
    out.push(Object.freeze({ endpoint_id: endpointId, expires_at: expiresAt, status }))
  }
  return out
}

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function'

export function createEndpointClient (options: EndpointClientOptions): EndpointClient {
  if (typeof options?.headers !== 'function') throw new TypeError('createEndpointClient: options.headers must be a function')
  const env: EndpointClientEnv = { ...browserEnv(), ...options.env }
  const base = new URL(String(options.url), env.baseUrl)
  const collection = base.href
  const timeoutMs = timeoutOption(options.timeoutMs, DEFAULT_ENDPOINT_TIMEOUT_MS, 'createEndpointClient')
  /** Endpoint ids created here and not released. */
  const held = new Set<string>()
  /** Creates not answered yet: release() waits for them, so what they create is released too. */
  const creating = new Set<Promise<unknown>>()
  /** The last headers a request was sent with, for pagehide, which cannot wait for an async headers(). */
  let lastHeaders: EndpointClientHeaders | undefined
  let stopped = false

  const endpointUrl = (endpointId: string): string => {
    const url = new URL(base.href)
    url.pathname = `${url.pathname.replace(/\/+$/, '')}/${encodeURIComponent(endpointId)}`
    return url.href
  }

  /** The problem as this client's error; a 409 is the caller's endpoint limit. */
  const errorOf = ({ code, message, cause, ...details }: ServiceProblem): EndpointClientError =>
    new EndpointClientError(details.status === 409 ? 'LIMIT' : code, message, { ...details, ...(cause !== undefined && { cause }) })

  /**
   * One request: the status and parsed JSON body of an answer with the expected status (a
   * DELETE's 404 from the service included, `NOT_FOUND`: the endpoint is no longer there for this
   * caller; a proxy's 404 is not that), else rejects with an EndpointClientError. The timeout
   * covers headers(), the answer and its body.
   */
  async function request (method: 'GET' | 'POST' | 'DELETE', url: string, expected: number): Promise<{ status: number, body: unknown }> {
    if (stopped) throw new EndpointClientError('STOPPED', 'the endpoint client was stopped')
    const abort = new AbortController()
    const timer = env.setTimeout(() => { abort.abort() }, timeoutMs)
    try {
      const sent = await send({ fetch: env.fetch, url, method, headers: options.headers, signal: abort.signal, timeoutMs })
      if (!('response' in sent)) throw errorOf(sent)
      const { response } = sent
      lastHeaders = sent.headers
      const { status } = response
      if (status !== expected) {
        const problem = await problemOf(response, env.now())
        if (!(method === 'DELETE' && status === 404 && problem.serviceCode === 'NOT_FOUND')) throw errorOf(problem)
        return { status, body: undefined }
      }
      if (method === 'DELETE') {
        await response.body?.cancel().catch(() => {})
        return { status, body: undefined }
      }
      try {
        return { status, body: await response.json() }
      } catch {
        if (abort.signal.aborted) throw errorOf(lostProblem(abort.signal, timeoutMs))
        return { status, body: undefined }
      }
    } finally {
      env.clearTimeout(timer)
    }
  }

  /** Deletes one endpoint; 204 and the service's 404 both mean it is no longer there for this caller. */
  async function releaseOne (endpointId: string): Promise<void> {
    await request('DELETE', endpointUrl(endpointId), 204)
    held.delete(endpointId)
  }

  async function createOne (): Promise<EndpointToken> {
    const { status, body } = await request('POST', collection, 201)
    const endpoint = parseEndpointToken(body)
    if (endpoint === undefined) throw new EndpointClientError('BAD_RESPONSE', 'the answer is not an endpoint token', { status })
    held.add(endpoint.endpoint_id)
    return endpoint
  }

  /** The page is going away: fire the deletes, unawaited, with keepalive so they outlive it. */
  function onPageHide (): void {
    if (held.size === 0) return
    let headers: unknown
    try {
      headers = options.headers()
    } catch {
      headers = undefined
    }
    // An async headers() cannot be waited for here, and one that throws (signing out) has none:
    // the headers of the last request stand in (there was one: it created what is held).
    const usable = headers !== undefined && !isThenable(headers) ? headers as EndpointClientHeaders : lastHeaders
    if (isThenable(headers)) Promise.resolve(headers).catch(() => {})
    for (const endpointId of [...held]) {
      held.delete(endpointId)
      env.fetch(endpointUrl(endpointId), { method: 'DELETE', headers: usable, keepalive: true, credentials: 'omit', redirect: 'error' })
        .then((response) => response.body?.cancel(), () => {})
        .catch(() => {})
    }
  }

  const releaseOnPageHide = options.releaseOnPageHide ?? true
  if (releaseOnPageHide) env.window?.addEventListener('pagehide', onPageHide)

  return {
    async createEndpoint () {
      const creation = createOne()
      creating.add(creation)
      try {
        return await creation
      } finally {
        creating.delete(creation)
      }
    },
    async list () {
      const { status, body } = await request('GET', collection, 200)
      const endpoints = parseEndpointList(body)
      if (endpoints === undefined) throw new EndpointClientError('BAD_RESPONSE', 'the answer is not a list of endpoints', { status })
      return endpoints
    },
    async release (endpointId) {
      if (endpointId !== undefined) {
        await releaseOne(endpointId)
        return
      }
      await Promise.allSettled([...creating])
      const results = await Promise.allSettled([...held].map(async (id) => { await releaseOne(id) }))
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
      if (failed !== undefined) throw failed.reason
    },
    held: () => [...held],
    stop () {
      stopped = true
      if (releaseOnPageHide) env.window?.removeEventListener('pagehide', onPageHide)
    }
  }
}
