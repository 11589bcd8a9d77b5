// Shared helpers of the tests that talk to the emulator: start one on loopback for a test, send
// token requests (and get a bandwidth token) over real HTTP, the documented way unless told
// otherwise, call its BRTC API and its control routes, and read the tokens it issues.
import type { Test } from 'tap'
import { createUpstreamEmulator } from '../../emulator/upstream-emulator.js'
import type { EmulatorOptions, Tenant, UpstreamEmulator } from '../../emulator/upstream-emulator.js'

/** What follows `Basic ` the way the providers document it: base64 of the raw UTF-8 `id:secret`. */
export const basicCredentials = (id: string, secret: string): string => Buffer.from(`${id}:${secret}`, 'utf8').toString('base64')

/** The Authorization header value of those credentials. */
export const basic = (id: string, secret: string): string => `Basic ${basicCredentials(id, secret)}`

export const CREDS = {
  bandwidth: { clientId: 'bw-id', clientSecret: 'bw-secret-0123456789' },
  global: { clientId: 'gl-id', clientSecret: 'gl-secret-0123456789' }
} as const

export const FORM = 'application/x-www-form-urlencoded'
export const DOCUMENTED_BODY: Record<Tenant, string> = {
  bandwidth: 'grant_type=client_credentials',
  global: 'grant_type=client_credentials&scope=voice.webrtc'
}

/** A started emulator (127.0.0.1, free port) with known credentials, closed after the test. */
export async function startEmulator (t: Test, options: EmulatorOptions = {}): Promise<UpstreamEmulator> {
  const emulator = createUpstreamEmulator({
    ...options,
    tenants: {
      bandwidth: { ...CREDS.bandwidth, ...options.tenants?.bandwidth },
      global: { ...CREDS.global, ...options.tenants?.global }
    }
  })
  await emulator.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => emulator.close())
  return emulator
}

export interface TokenRequest {
  method?: string
  authorization?: string | null
  contentType?: string | null
  accept?: string | null
  body?: string | Uint8Array | URLSearchParams | null
  signal?: AbortSignal
}

/** POST the documented request to the tenant, with any part replaced (null: left out). */
export async function requestToken (emulator: UpstreamEmulator, tenant: Tenant, r: TokenRequest = {}): Promise<Response> {
  const headers: Record<string, string> = {}
  const authorization = r.authorization === undefined ? basic(CREDS[tenant].clientId, CREDS[tenant].clientSecret) : r.authorization
  const contentType = r.contentType === undefined ? FORM : r.contentType
  const accept = r.accept === undefined ? 'application/json' : r.accept
  if (authorization !== null) headers.authorization = authorization
  if (contentType !== null) headers['content-type'] = contentType
  if (accept !== null) headers.accept = accept
  const method = r.method ?? 'POST'
  const body = r.body === undefined ? DOCUMENTED_BODY[tenant] : r.body
  return fetch(emulator.tokenUrl(tenant), {
    method,
    headers,
    body: method === 'GET' || body === null ? undefined : body,
    signal: r.signal
  })
}

/**
 * A fresh access token from the emulated `bandwidth` token endpoint, obtained the documented way
 * (as anything else on the account would), with `client`'s credentials: by default the ones
 * startEmulator() gives the emulator.
 */
export async function bandwidthToken (emulator: UpstreamEmulator, client: { clientId: string, clientSecret: string } = CREDS.bandwidth): Promise<string> {
  const res = await requestToken(emulator, 'bandwidth', { authorization: basic(client.clientId, client.clientSecret) })
  if (res.status !== 200) throw new Error(`token request failed: ${res.status}`)
  return ((await res.json()) as { access_token: string }).access_token
}

export interface BrtcCall {
  /** `Bearer <token>` by default; a full header value, or null to leave it out. */
  authorization?: string | null
  /** JSON-serialised unless a string or bytes; sent with `application/json` unless contentType says otherwise. */
  body?: unknown
  contentType?: string | null
  signal?: AbortSignal
}

/** Call the BRTC API at `emulator.brtcApiUrl + path` with a bearer token. */
export async function brtcCall (emulator: UpstreamEmulator, token: string, method: string, path: string, c: BrtcCall = {}): Promise<Response> {
  const headers: Record<string, string> = { accept: 'application/json' }
  const authorization = c.authorization === undefined ? `Bearer ${token}` : c.authorization
  if (authorization !== null) headers.authorization = authorization
  const hasBody = c.body !== undefined
  const contentType = c.contentType === undefined ? (hasBody ? 'application/json' : null) : c.contentType
  if (contentType !== null) headers['content-type'] = contentType
  return fetch(`${emulator.brtcApiUrl}${path}`, {
    method,
    headers,
    body: hasBody ? (typeof c.body === 'string' || c.body instanceof Uint8Array ? c.body : JSON.stringify(c.body)) : undefined,
    signal: c.signal
  })
}

/**
 * POST to a dev-only control route (`/__emulator/<route>`) of the emulator at `emulator.url`: a
 * string body as is, anything else as JSON, sent with `contentType`; no body, no content type.
 */
export async function postControl (emulator: { url: string }, route: string, body?: unknown, contentType = 'application/json'): Promise<Response> {
  return await fetch(`${emulator.url}/__emulator/${route}`, {
    method: 'POST',
    headers: body === undefined ? {} : { 'content-type': contentType },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body)
  })
}

/** Three base64url parts: the shape of the access and endpoint tokens the emulator issues. */
export const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/

/** One part (header or payload) of such a token, decoded. */
export const decodeJwtPart = (part: string | undefined): Record<string, unknown> =>
  JSON.parse(Buffer.from(part as string, 'base64url').toString('utf8')) as Record<string, unknown>

/** The spec's minimal create body (createWebRtcConnectionRequest). */
export const WEBRTC_ENDPOINT = { type: 'WEBRTC', direction: 'BIDIRECTIONAL' } as const
