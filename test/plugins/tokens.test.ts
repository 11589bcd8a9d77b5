// The tokens plugin: one manager per enabled upstream, the seed hooks wired per upstream, and the injected
// clock driving expiry and refresh-ahead through the real route.
import t from 'tap'
import { build, API_KEY } from '../helpers/build.js'
import { FakeClock, settle } from '../helpers/fake-clock.js'
import type { UpstreamToken } from '../../src/token/types.js'

const KEY = { 'x-api-key': API_KEY }

t.test('exact expires_in/expires_at from the injected clock; refresh-ahead without a waiting caller', async (t) => {
  const clock = new FakeClock()
  const updates: Array<[string, string | undefined]> = []
  const { app, provider } = await build(t, {
    tokens: {
      clock,
      random: () => 0.5,
      onTokenUpdate: (upstream, token: UpstreamToken) => { updates.push([upstream, token.tokenId]) }
    }
  })
  await settle()
  const first = await app.inject({ url: '/token/webrtc', headers: KEY })
  t.equal(first.json().expires_in, 570, '600 s minus the 30 s margin')
  t.equal(first.json().expires_at, new Date(clock.wall() + 570_000).toISOString())
  t.same([provider.calls.bandwidth, provider.calls.global], [1, 1], 'one provider request each (prewarm)')
  t.same(updates.map(([u]) => u).sort(), ['bandwidth', 'global'])

  // At 80 % of 600 s the background refresh runs; callers keep getting the old token meanwhile.
  await clock.advanceAsync(480_000)
  t.equal(provider.calls.global, 2, 'refreshed in the background at TOKEN_REFRESH_AT')
  const after = await app.inject({ url: '/token/webrtc', headers: KEY })
  t.not(after.json().access_token, first.json().access_token, 'the fresh token is served')
  t.equal(after.json().expires_in, 570)
})

t.test('a tokenProvider hook is consulted per upstream', async (t) => {
  const asked: string[] = []
  const { app } = await build(t, {
    tokens: {
      tokenProvider: (upstream) => async (_last, fetchFresh) => {
        asked.push(upstream)
        return await fetchFresh()
      }
    }
  })
  const res = await app.inject({ url: '/token/webrtc?upstream=bandwidth', headers: KEY })
  t.equal(res.statusCode, 200)
  t.ok(asked.includes('bandwidth') && asked.includes('global'))
})

t.test('a provider Retry-After of 999999 s is honoured for 60 s at most', async (t) => {
  const clock = new FakeClock()
  const { app, provider } = await build(t, { noReady: true, tokens: { clock, random: () => 0.5 } })
  provider.respond(() => new Response('slow down', { status: 429, headers: { 'retry-after': '999999' } }))
  await app.ready()
  await settle()
  const refused = await app.inject({ url: '/token/webrtc', headers: KEY })
  t.equal(refused.statusCode, 503)
  t.equal(refused.headers['retry-after'], '60', "the service's own Retry-After never exceeds 60")
  const asked = provider.calls.global
  provider.respond(null)
  await clock.advanceAsync(59_000)
  t.equal(provider.calls.global, asked, 'not asked again inside the 60 s')
  await clock.advanceAsync(1_000)
  t.equal(provider.calls.global, (asked ?? 0) + 1, 'asked again at 60 s, not after 999999 s')
  t.equal((await app.inject({ url: '/token/webrtc', headers: KEY })).statusCode, 200)
})
