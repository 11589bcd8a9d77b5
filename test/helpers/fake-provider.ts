// An in-process stand-in for the provider's token endpoint, as a `fetch` function, for route
// tests that should not open sockets. It answers like the emulator (emulator/) does on the wire;
// test/e2e exercises the real thing over HTTP.
import { randomBytes } from 'node:crypto'

export interface FakeProvider {
  fetch: typeof globalThis.fetch
  /** Requests received, per upstream path segment ('bandwidth' | 'global'). */
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

export function fakeProvider (): FakeProvider {
  const calls: Record<string, number> = { bandwidth: 0, global: 0 }
  const issued: string[] = []
  const expiresIn: Record<string, number> = { bandwidth: 3600, global: 600 }
  let override: ((upstream: string) => Response | Promise<Response>) | null = null

  const fetch = (async (input: string | URL | Request): Promise<Response> => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url)
    const upstream = url.hostname.split('.')[0] as string
    calls[upstream] = (calls[upstream] ?? 0) + 1
    if (override !== null) return await override(upstream)
    const token = `fake.${upstream}.${randomBytes(16).toString('base64url')}`
    issued.push(token)
    return new Response(JSON.stringify({
      access_token: token,
      token_type: 'Bearer',
      expires_in: expiresIn[upstream],
      access_token_id: `id-${issued.length}`
    }), { status: 200, headers: { 'content-type': 'application/json;charset=UTF-8' } })
  }) as typeof globalThis.fetch

  return { fetch, calls, issued, expiresIn, respond: (fn) => { override = fn } }
}
