// TokenManager hooks: tokenProvider (where a shared store plugs in), onTokenUpdate, onFetch.
import t from 'tap'
import { UpstreamCredentialsError, UpstreamUnavailableError } from '../../src/lib/errors.js'
import { Secret } from '../../src/lib/secret.js'
import type { UpstreamToken } from '../../src/token/types.js'
import { settle } from '../helpers/fake-clock.js'
import { deferred, tokenResponse } from './fake-fetch.js'
import { harness, rejection } from './manager-harness.js'

t.test('tokenProvider wraps the fetch: gets the last token and a fetchFresh that does the request', async (t) => {
  const seen: Array<UpstreamToken | undefined> = []
  let n = 0
  const h = harness(t, () => tokenResponse({ access_token: `tok-${++n}` }), {
    manager: {
      tokenProvider: async (last, fetchFresh) => {
        seen.push(last)
        return await fetchFresh()
      }
    }
  })
  t.equal((await h.manager.getToken()).accessToken.reveal(), 'tok-1')
  t.same(seen, [undefined])
  t.equal(h.requests.length, 1)
  t.same(h.fetches.map((f) => f.outcome), ['success'])
  await h.clock.advanceAsync(2_880_000)
  t.equal((await h.manager.getToken()).accessToken.reveal(), 'tok-2')
  t.equal(seen[1], h.updates[0], 'the previous token is passed in')
  t.same(h.updates.map((u) => u.accessToken.reveal()), ['tok-1', 'tok-2'])
})

t.test('tokenProvider may answer from a shared store without a provider request', async (t) => {
  const h = harness(t, () => { throw new Error('must not be called') }, {
    manager: {
      tokenProvider: async () => ({
        accessToken: new Secret('from-store'),
        tokenType: 'Bearer',
        tokenId: undefined,
        expiresInSeconds: 600,
        expiresAtMonotonic: h.clock.monotonic() + 300_000
      })
    }
  })
  const issued = await h.manager.getToken()
  t.equal(issued.accessToken.reveal(), 'from-store')
  t.equal(issued.expiresIn, 290)
  t.equal(h.requests.length, 0)
  t.same(h.fetches, [], 'onFetch counts provider requests only')
  t.equal(h.updates.length, 1)
  // Lifetime 600 s counted from 300 s ago: the refresh point (480 s) is 180 s away.
  t.equal(h.clock.nextTimerIn(), 180_000)
})

t.test('tokenProvider handing back the same token: no update, no tight refresh loop', async (t) => {
  let calls = 0
  const h = harness(t, () => tokenResponse(), {
    manager: {
      tokenProvider: async (last, fetchFresh) => {
        calls++
        return last ?? await fetchFresh()
      }
    }
  })
  await h.manager.getToken()
  await h.clock.advanceAsync(2_880_000)
  t.equal(calls, 2)
  await h.clock.advanceAsync(10_000)
  t.equal(calls, 12, 'at most one refresh attempt a second')
  t.equal(h.requests.length, 1)
  t.equal(h.updates.length, 1)
  t.equal(h.lines.filter((l) => l.msg === 'upstream token refreshed').length, 1)
  t.equal(h.manager.state().state, 'valid')
})

t.test('whatever tokenProvider returns must be a well-formed, servable token', async (t) => {
  const good = (now: number): UpstreamToken => ({ accessToken: new Secret('x'), tokenType: 'Bearer', tokenId: undefined, expiresInSeconds: 600, expiresAtMonotonic: now + 600_000 })
  const cases: Array<[string, (now: number) => unknown]> = [
    ['undefined', () => undefined],
    ['null', () => null],
    ['a string', () => 'token'],
    ['plain-string accessToken', (now) => ({ ...good(now), accessToken: 'x' })],
    ['empty Secret', (now) => ({ ...good(now), accessToken: new Secret('') })],
    ['lower-case tokenType', (now) => ({ ...good(now), tokenType: 'bearer' })],
    ['NaN expiry', (now) => ({ ...good(now), expiresAtMonotonic: Number.NaN })],
    ['NaN lifetime', (now) => ({ ...good(now), expiresInSeconds: Number.NaN })],
    ['zero lifetime', (now) => ({ ...good(now), expiresInSeconds: 0 })],
    ['inside the margin', (now) => ({ ...good(now), expiresAtMonotonic: now + 10_500 })],
    ['expired', (now) => ({ ...good(now), expiresAtMonotonic: now - 1 })]
  ]
  for (const [name, make] of cases) {
    const h = harness(t, () => tokenResponse(), {
      manager: { tokenProvider: async () => make(h.clock.monotonic()) as UpstreamToken }
    })
    const err = await rejection(h.manager.getToken())
    t.ok(err instanceof UpstreamUnavailableError, name)
    t.equal((err as UpstreamUnavailableError).errorClass, 'bad_response', name)
    t.equal(h.updates.length, 0, name)
    t.equal(h.manager.state().state, 'failing', name)
  }
})

t.test('a tokenProvider error counts as network and its message is never logged', async (t) => {
  const h = harness(t, () => tokenResponse(), {
    manager: { tokenProvider: async () => { throw new Error('redis://:hunter2@cache down') } }
  })
  const err = await rejection(h.manager.getToken())
  t.equal((err as UpstreamUnavailableError).errorClass, 'network')
  t.notMatch(JSON.stringify(h.lines), 'hunter2')
  t.same(h.lines.find((l) => l.level === 'warn')?.obj, { upstream: 'bandwidth', errorClass: 'network', retryInSeconds: 1, servingHeldToken: false })
})

t.test('a tokenProvider passing on fetchFresh\'s failure keeps its class', async (t) => {
  const h = harness(t, () => new Response('', { status: 401 }), {
    manager: { tokenProvider: async (_last, fetchFresh) => await fetchFresh() }
  })
  t.ok(await rejection(h.manager.getToken()) instanceof UpstreamCredentialsError)
  t.same(h.fetches.map((f) => f.outcome), ['credentials_rejected'])
})

t.test('onFetch: once per provider request, with its duration on the injected clock', async (t) => {
  const answer = deferred<Response>()
  let n = 0
  const h = harness(t, async () => n++ === 0 ? await answer.promise : new Response('', { status: 502 }), { manager: { refreshAt: 0.5 } })
  const p = h.manager.getToken()
  await settle()
  h.clock.advance(1234)
  answer.resolve(tokenResponse())
  await p
  await h.clock.advanceAsync(h.clock.nextTimerIn()!) // the refresh at half the lifetime fails
  t.same(h.fetches, [{ outcome: 'success', durationMs: 1234 }, { outcome: 'server_error', durationMs: 0 }])
})

t.test('a throwing hook is logged by name only and does not break serving', async (t) => {
  for (const thrown of [new TypeError('secret detail'), 'secret detail']) {
    const h = harness(t, () => tokenResponse(), {
      manager: {
        onTokenUpdate: () => { throw thrown },
        onFetch: () => { throw thrown }
      }
    })
    t.equal((await h.manager.getToken()).accessToken.reveal(), 'tok-1')
    const hookErrors = h.lines.filter((l) => l.msg === 'token manager hook threw')
    t.same(hookErrors.map((l) => [l.level, l.obj.hook, l.obj.errorName]), [
      ['error', 'onFetch', typeof thrown === 'string' ? 'string' : 'TypeError'],
      ['error', 'onTokenUpdate', typeof thrown === 'string' ? 'string' : 'TypeError']
    ])
    t.notMatch(JSON.stringify(h.lines), 'secret detail')
  }
})
