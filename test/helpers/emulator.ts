// Shared helpers of the emulator tests: start an emulator on loopback for one test, and send
// token requests over real HTTP, the documented way unless told otherwise.
import type { Test } from 'tap'
import { createUpstreamEmulator } from '../../emulator/upstream-emulator.js'
import type { EmulatorOptions, Tenant, UpstreamEmulator } from '../../emulator/upstream-emulator.js'

/** Basic credentials the way the providers document them: base64 of the raw UTF-8 `id:secret`. */
export const basic = (id: string, secret: string): string =>
  `Basic ${Buffer.from(`${id}:${secret}`, 'utf8').toString('base64')}`

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

/** Wait until `check` holds (polling), or fail after `ms`. */
export async function until (check: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** A fresh access token from the emulated `bandwidth` token endpoint, obtained the documented way. */
export async function bandwidthToken (emulator: UpstreamEmulator): Promise<string> {
  const res = await requestToken(emulator, 'bandwidth')
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

/** The spec's minimal create body (createWebRtcConnectionRequest). */
export const WEBRTC_ENDPOINT = { type: 'WEBRTC', direction: 'BIDIRECTIONAL' } as const
