// The one in-process stand-in for the provider's token endpoint, as a `fetch` function: it lets
// unit and app tests run without a socket. Tests of the wire use the emulator (emulator/) over
// HTTP instead (test/e2e, test/faults, test/emulator).
//
//   fakeProvider()               answers like the emulator: a fresh token per request, per
//                                upstream; for app and route tests (see test/helpers/build.ts)
//   scriptedProvider(handler)    answers whatever `handler` returns and records every request
//                                byte for byte; for ProviderSource and manager tests
//   tokenResponse / jsonResponse / hang / deferred   building blocks for handlers
import { randomBytes } from 'node:crypto'

/** A request as the fake endpoint received it. */
export interface SeenRequest {
  url: string
  method: string
  headers: Headers
  body: string
  redirect: RequestInit['redirect']
  signal: AbortSignal
}

export type Handler = (req: SeenRequest, index: number) => Response | Promise<Response>

export interface ScriptedProvider {
  fetch: typeof globalThis.fetch
  /** Every request received, in order. */
  requests: SeenRequest[]
}

/** A `fetch` that records each request and answers it from `handler` (which may throw, like a network error). */
export function scriptedProvider (handler: Handler): ScriptedProvider {
  const requests: SeenRequest[] = []
  const fetch = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const request = input instanceof Request ? input : undefined
    const req: SeenRequest = {
      url: request?.url ?? String(input),
      method: init.method ?? request?.method ?? 'GET',
      headers: new Headers(init.headers ?? request?.headers),
      body: typeof init.body === 'string' ? init.body : '',
      redirect: init.redirect ?? request?.redirect,
      signal: init.signal ?? request?.signal ?? new AbortController().signal
    }
    requests.push(req)
    return await handler(req, requests.length - 1)
  }
  return { fetch: fetch as typeof globalThis.fetch, requests }
}

export interface FakeProvider extends ScriptedProvider {
  /** Requests received, per upstream host label ('bandwidth' | 'global'). */
  calls: Record<string, number>
  /** Every access token issued, for leak scans. */
  issued: string[]
  /** Replace the response for the next requests; null restores normal tokens. */
  respond: (fn: ((upstream: string) => Response | Promise<Response>) | null) => void
  expiresIn: Record<string, number>
}

export const FAKE_TOKEN_URLS = {
  BANDWIDTH_TOKEN_URL: 'https://bandwidth.provider.test/api/v1/oauth2/token',
  GLOBAL_WEBRTC_TOKEN_URL: 'https://global.provider.test/api/v1/oauth2/token'
}

/** Answers like the emulator: a new random token per request, with the upstream's `expires_in`. */
export function fakeProvider (): FakeProvider {
  const calls: Record<string, number> = { bandwidth: 0, global: 0 }
  const issued: string[] = []
  const expiresIn: Record<string, number> = { bandwidth: 3600, global: 600 }
  let override: ((upstream: string) => Response | Promise<Response>) | null = null

  const { fetch, requests } = scriptedProvider(async (req) => {
    const upstream = new URL(req.url).hostname.split('.')[0] as string
    calls[upstream] = (calls[upstream] ?? 0) + 1
    if (override !== null) return await override(upstream)
    const token = `fake.${upstream}.${randomBytes(16).toString('base64url')}`
    issued.push(token)
    return tokenResponse({ access_token: token, expires_in: expiresIn[upstream], access_token_id: `id-${issued.length}` },
      { 'content-type': 'application/json;charset=UTF-8' })
  })

  return { fetch, requests, calls, issued, expiresIn, respond: (fn) => { override = fn } }
}

/** A 200 token answer; `fields` override or (with undefined) remove the defaults. */
export function tokenResponse (fields: Record<string, unknown> = {}, headers: Record<string, string> = {}): Response {
  const body = { access_token: 'tok-1', token_type: 'Bearer', expires_in: 3600, ...fields }
  return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json', ...headers } })
}

export function jsonResponse (status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } })
}

/** A request that never answers; it rejects like undici does once its signal aborts. */
export async function hang (req: SeenRequest): Promise<Response> {
  return await new Promise((_resolve, reject) => {
    const abort = (): void => { reject(new DOMException('This operation was aborted', 'AbortError')) }
    if (req.signal.aborted) abort()
    req.signal.addEventListener('abort', abort, { once: true })
  })
}

export interface Deferred<T> { promise: Promise<T>, resolve: (value: T) => void, reject: (err: unknown) => void }

/** A promise with its resolve and reject, for a test to settle when it chooses. */
export function deferred<T = void> (): Deferred<T> {
  let resolve!: (value: T) => void
  let reject!: (err: unknown) => void
  const promise = new Promise<T>((_resolve, _reject) => { resolve = _resolve; reject = _reject })
  return { promise, resolve, reject }
}
