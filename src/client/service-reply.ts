// One request from the browser clients (token-client.ts, endpoint-client.ts) to the token service,
// what its answers mean, and what both clients take from the browser. Credentials go in headers
// only, never cookies, and the request is neither cached nor redirected. Of an error reply only the
// machine-readable `code` is read, never the body itself, so nothing the service or a proxy put in
// a body can reach an error message, the console or the app's logs.
import { parseRetryAfter } from '../lib/retry-after.js'
import { MAX_TIMER_MS } from '../lib/values.js'

/** The service's `Retry-After` is honoured up to this, so one bad header cannot park the app for days. */
export const RETRY_AFTER_CAP_MS = 600_000

/** What both clients take from the browser: fetch, the clocks, timers and the page's location. */
export interface BrowserBasics {
  fetch: (url: string, init: RequestInit) => Promise<Response>
  /** Wall clock, ms since the epoch. */
  now: () => number
  /** A clock that never steps (performance.now()), ms; it may stand still while the device sleeps. */
  monotonic: () => number
  setTimeout: (callback: () => void, ms: number) => unknown
  clearTimeout: (handle: unknown) => void
  /** Base for a relative `url` (the page's location). */
  baseUrl: string | undefined
}

/** The browser's own, for the clients' default environments. */
export function browserBasics (): BrowserBasics {
  const g = globalThis as unknown as { location?: { href: string } }
  return {
    // Wrapped: fetch and the timers throw "Illegal invocation" when called as methods of another object.
    fetch: async (url, init) => await globalThis.fetch(url, init),
    now: () => Date.now(),
    monotonic: () => performance.now(),
    setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
    clearTimeout: (handle) => { globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>) },
    baseUrl: g.location?.href
  }
}

/** Why a request got no answer, or not the one it expected. */
export type ServiceProblemCode =
  | 'UNAUTHORIZED' | 'REJECTED' | 'RATE_LIMITED' | 'UNAVAILABLE' | 'SERVER_ERROR'
  | 'BAD_RESPONSE' | 'NETWORK' | 'TIMEOUT' | 'HEADERS'

export interface ServiceProblem {
  code: ServiceProblemCode
  message: string
  status?: number
  serviceCode?: string
  retryAfterMs?: number
  cause?: unknown
}

export type ServiceHeaders = NonNullable<RequestInit['headers']>

export interface ServiceRequest {
  fetch: (url: string, init: RequestInit) => Promise<Response>
  url: string
  method: 'GET' | 'POST' | 'DELETE'
  /** Asked for before the request is sent (e.g. a fresh IdP access token). */
  headers: () => ServiceHeaders | Promise<ServiceHeaders>
  /** Aborted when the caller's time is up: the problem is then TIMEOUT. */
  signal: AbortSignal
  timeoutMs: number
}

/**
 * The `timeoutMs` option: the default when absent; a positive number of ms, capped at what a
 * timer can wait (Infinity is the longest wait there is, not an instant timeout).
 */
export function timeoutOption (value: unknown, fallback: number, name: string): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !(value > 0)) throw new TypeError(`${name}: options.timeoutMs must be a positive number of milliseconds`)
  return Math.min(value, MAX_TIMER_MS)
}

/** TIMEOUT when `signal` was aborted (the caller's time ran out), else NETWORK. */
export function lostProblem (signal: AbortSignal, timeoutMs: number): ServiceProblem {
  return signal.aborted
    ? { code: 'TIMEOUT', message: `no answer from the token service within ${timeoutMs} ms` }
    : { code: 'NETWORK', message: 'the request to the token service failed (network, or refused by CORS)' }
}

const ABORTED = Symbol('aborted')

/** The service's answer, with the headers it was sent with; or why there was none. */
export async function send (r: ServiceRequest): Promise<{ response: Response, headers: ServiceHeaders } | ServiceProblem> {
  if (r.signal.aborted) return lostProblem(r.signal, r.timeoutMs)
  let headers: ServiceHeaders | typeof ABORTED
  // The timeout (and stop()) covers headers() too: an identity provider's call that never
  // settles must not hold the client.
  let onAbort = (): void => {}
  const aborted = new Promise<typeof ABORTED>((resolve) => {
    onAbort = () => { resolve(ABORTED) }
    r.signal.addEventListener('abort', onAbort, { once: true })
  })
  try {
    headers = await Promise.race([aborted, (async () => await r.headers())()])
  } catch (cause) {
    return { code: 'HEADERS', message: 'options.headers() failed', cause }
  } finally {
    r.signal.removeEventListener('abort', onAbort)
  }
  if (headers === ABORTED || r.signal.aborted) return lostProblem(r.signal, r.timeoutMs)
  try {
    // (`cache` is typed separately: Node's RequestInit lacks it, and Node's tests load this file.)
    const init: RequestInit & { cache: 'no-store' } = { method: r.method, headers, cache: 'no-store', credentials: 'omit', redirect: 'error', signal: r.signal }
    return { response: await r.fetch(r.url, init), headers }
  } catch {
    return lostProblem(r.signal, r.timeoutMs)
  }
}

/** The service's error `code` (e.g. `UPSTREAM_UNAVAILABLE`), if the body is its JSON error. */
export async function serviceCodeOf (response: Response): Promise<string | undefined> {
  try {
    const body = await response.json() as { code?: unknown } | null
    const code = body?.code
    return typeof code === 'string' && /^[A-Z][A-Z0-9_]{0,63}$/.test(code) ? code : undefined
  } catch {
    return undefined
  }
}

/** What an answer other than the expected one means; `Retry-After` (429, 503) capped at RETRY_AFTER_CAP_MS. */
export async function problemOf (response: Response, now: number): Promise<ServiceProblem> {
  const status = response.status
  const serviceCode = await serviceCodeOf(response)
  const message = `token service answered ${status}${serviceCode === undefined ? '' : ` (${serviceCode})`}`
  const problem = (code: ServiceProblemCode): ServiceProblem => ({ code, message, status, serviceCode })
  if (status === 401) return problem('UNAUTHORIZED')
  // The service (or a proxy) gave up waiting for the request: a retry may well succeed.
  if (status === 408) return problem('TIMEOUT')
  if (status === 429 || status === 503) {
    const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), now, RETRY_AFTER_CAP_MS)
    return { ...problem(status === 429 ? 'RATE_LIMITED' : 'UNAVAILABLE'), retryAfterMs }
  }
  if (status >= 400 && status < 500) return problem('REJECTED')
  if (status >= 500) return problem('SERVER_ERROR')
  return problem('BAD_RESPONSE')
}
