// The tokens plugin: one manager per enabled upstream, hooks wired per upstream, and the injected
// clock driving expiry and refresh-ahead through the real route.
import t from 'tap'
import { build, API_KEY } from '../helper.js'
import { FakeClock, settle } from '../helpers/fake-clock.js'
import type { UpstreamToken } from '../../src/token/types.js'

const KEY = { 'x-api-key': API_KEY }

t.test('exact expires_in/expires_at from the injected clock; refresh-ahead without a waiting caller', async (t) => {
  const clock = new FakeClock()
  const updates: Array<[string, string | undefined]> = []
  const fetches: Array<[string, string]> = []
  const { app, provider } = await build(t, {
    tokens: {
      clock,
      random: () => 0.5,
      onTokenUpdate: (upstream, token: UpstreamToken) => { updates.push([upstream, token.tokenId]) },
      onFetch: (upstream, outcome) => { fetches.push([upstream, outcome]) }
    }
  })
  await settle()
  const first = await app.inject({ url: '/token/webrtc', headers: KEY })
  t.equal(first.json().expires_in, 570, '600 s minus the 30 s margin')
  t.equal(first.json().expires_at, new Date(clock.wall() + 570_000).toISOString())
  t.same(fetches.sort(), [['bandwidth', 'success'], ['global', 'success']])
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
