// End to end over real HTTP: the service listening on loopback, fetching from the emulator over
// the wire, called with global fetch. Proves the byte-level request the provider sees and the
// reply a browser app gets. The token managers run on a FakeClock, so the lifetime served is exact.
import t from 'tap'
import { createUpstreamEmulator } from '../../emulator/upstream-emulator.js'
import { emulatorUpstreamEnv, type EmulatorCredentials } from '../../emulator/service-env.js'
import { build } from '../helpers/build.js'
import { FakeClock } from '../helpers/fake-clock.js'

t.test('a caller gets a token fetched from the emulator over HTTP', async (t) => {
  const tenants: EmulatorCredentials = {
    bandwidth: { clientId: 'hgranger', clientSecret: 'Cr00k$h@nk$' },
    global: { clientId: 'jdoe', clientSecret: 'correct-horse-battery-staple' }
  }
  const emulator = createUpstreamEmulator({ tenants })
  await emulator.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(async () => { await emulator.close() })
  const key = 'e2e-key-0123456789abcdef0123456789abcdef'
  const clock = new FakeClock()
  // The real fetch, not the fake provider: the wire to the emulator is what is tested.
  const { app: server } = await build(t, {
    env: { ...emulatorUpstreamEnv(emulator, tenants), LOG_LEVEL: 'silent', API_KEYS: `e2e:${key}` },
    tokens: { clock, fetch: globalThis.fetch }
  })
  const base = await server.listen({ host: '127.0.0.1', port: 0 })

  const res = await fetch(`${base}/token/webrtc`, { headers: { 'x-api-key': key } })
  t.equal(res.status, 200)
  t.equal(res.headers.get('cache-control'), 'no-store')
  const body = await res.json() as Record<string, unknown>
  t.equal(body.upstream, 'global')
  t.ok(emulator.issuedTokens('global').some((tok) => tok.accessToken === body.access_token), 'the emulator issued it')
  t.equal(body.expires_in, 570, 'the emulator\'s 600 s token minus the 30 s margin')
  t.equal(body.expires_at, new Date(clock.wall() + 570_000).toISOString())

  const bw = await fetch(`${base}/token/webrtc?upstream=bandwidth`, { headers: { 'x-api-key': key } })
  t.equal((await bw.json() as Record<string, unknown>).upstream, 'bandwidth')

  // What the provider saw: the documented request, once per upstream (prewarm, joined by callers).
  t.equal(emulator.requests('global'), 1)
  t.equal(emulator.requests('bandwidth'), 1)
  // The emulator ignores unknown form fields (RFC 6749 3.2), so its log is what proves the
  // service sends the documented fields and nothing else.
  const seen = emulator.requestLog().find((r) => r.tenant === 'global')
  t.match(seen, { method: 'POST', contentType: 'application/x-www-form-urlencoded', accept: 'application/json' })
  t.same(seen?.body, [['grant_type', 'client_credentials'], ['scope', 'voice.webrtc']], 'global: exactly the documented form')
  t.equal(seen?.bodyBytes, 'grant_type=client_credentials&scope=voice.webrtc'.length)
  const seenBandwidth = emulator.requestLog().find((r) => r.tenant === 'bandwidth')
  t.same(seenBandwidth?.body, [['grant_type', 'client_credentials']], 'bandwidth: exactly the documented form, no scope')
  t.equal(seenBandwidth?.bodyBytes, 'grant_type=client_credentials'.length)

  const denied = await fetch(`${base}/token/webrtc`)
  t.equal(denied.status, 401)
  t.equal(denied.headers.get('www-authenticate'), 'Bearer')
})
