// TokenManager and its TokenSource: what the manager hands the source (the held token, an abort
// signal), tokens a store hands back (older, the same, malformed or short-lived), foreign
// errors, a wrapping source passing a provider failure on, and the 'updated' event (including
// a listener that throws).
import t from 'tap'
import { getEventListeners } from 'node:events'
import { Secret } from '../../src/lib/secret.js'
import { TokenManager } from '../../src/token/manager.js'
import { ProviderSource } from '../../src/token/sources/provider.js'
import type { FetchOutcome, TokenSource, UpstreamToken } from '../../src/token/types.js'
import { FakeClock } from '../helpers/fake-clock.js'
import { scriptedProvider } from '../helpers/fake-provider.js'
import { appRejection, harness, unavailable, upstreamConfig, upstreamToken } from '../helpers/manager-harness.js'
import { captureLogger } from '../helpers/capture-logger.js'

t.test('the source gets the token held (none at first) and a fresh signal per attempt', async (t) => {
  let n = 0
  const h = harness(t, (call) => upstreamToken(call.now, { accessToken: `tok-${++n}` }))
  t.equal((await h.manager.getToken()).accessToken.reveal(), 'tok-1')
  t.equal(h.calls[0]!.last, undefined)
  await h.clock.advanceAsync(2_880_000)
  t.equal((await h.manager.getToken()).accessToken.reveal(), 'tok-2')
  t.equal(h.calls.length, 2)
  t.equal(h.calls[1]!.last, h.updates[0], 'the previous token is passed in')
  t.not(h.calls[1]!.signal, h.calls[0]!.signal)
  t.same(h.calls.map((c) => c.signal.aborted), [false, false], 'a finished attempt is not aborted')
  t.same(h.updates.map((u) => u.accessToken.reveal()), ['tok-1', 'tok-2'])
})

t.test('a source may answer with a token granted earlier (a shared store)', async (t) => {
  const h = harness(t, (call) => upstreamToken(call.now - 300_000, { accessToken: 'from-store', expiresIn: 600 }))
  const issued = await h.manager.getToken()
  t.equal(issued.accessToken.reveal(), 'from-store')
  t.equal(issued.expiresIn, 290)
  t.equal(h.updates.length, 1)
  // Lifetime 600 s counted from 300 s ago: the refresh point (480 s) is 180 s away.
  t.equal(h.clock.nextTimerIn(), 180_000)
})

t.test('a source handing back the token held: no update, no tight refresh loop', async (t) => {
  const h = harness(t, (call) => call.last ?? upstreamToken(call.now))
  await h.manager.getToken()
  await h.clock.advanceAsync(2_880_000)
  t.equal(h.calls.length, 2)
  await h.clock.advanceAsync(10_000)
  t.equal(h.calls.length, 12, 'at most one refresh attempt a second')
  t.equal(h.updates.length, 1)
  t.equal(h.lines.filter((l) => l.msg === 'upstream token refreshed').length, 1)
  t.equal(h.manager.state().state, 'valid')
})

t.test('whatever a source returns must be a well-formed, servable token, else it is a bad_response', async (t) => {
  const good = (now: number): UpstreamToken => upstreamToken(now, { accessToken: 'x', expiresIn: 600 })
  const cases: Array<[string, (now: number) => unknown]> = [
    ['undefined', () => undefined],
    ['null', () => null],
    ['a string', () => 'token'],
    ['plain-string accessToken', (now) => ({ ...good(now), accessToken: 'x' })],
    ['empty Secret', (now) => ({ ...good(now), accessToken: new Secret('') })],
    ['lower-case tokenType', (now) => ({ ...good(now), tokenType: 'bearer' })],
    ['NaN expiry', (now) => ({ ...good(now), expiresAtMonotonic: Number.NaN })],
    ['infinite expiry', (now) => ({ ...good(now), expiresAtMonotonic: Number.POSITIVE_INFINITY })],
    ['NaN lifetime', (now) => ({ ...good(now), expiresInSeconds: Number.NaN })],
    ['zero lifetime', (now) => ({ ...good(now), expiresInSeconds: 0 })],
    ['short-lived: inside margin + 1 s', (now) => ({ ...good(now), expiresAtMonotonic: now + 10_999 })],
    ['expired', (now) => ({ ...good(now), expiresAtMonotonic: now - 1 })]
  ]
  for (const [name, make] of cases) {
    const h = harness(t, (call) => make(call.now) as UpstreamToken)
    const err = await unavailable(h.manager.getToken())
    t.equal(err.errorClass, 'bad_response', name)
    t.equal(h.updates.length, 0, name)
    t.same(h.manager.state(), { state: 'failing', secondsLeft: 0, lastErrorClass: 'bad_response' }, name)
  }
  const edge = harness(t, (call) => ({ ...good(call.now), expiresAtMonotonic: call.now + 11_000 }))
  t.equal((await edge.manager.getToken()).expiresIn, 1, 'exactly margin + 1 s left is served')
})

t.test('a foreign error from a source counts as network, and its message is never logged', async (t) => {
  const h = harness(t, () => { throw new Error('redis://:hunter2@cache down') })
  const err = await unavailable(h.manager.getToken())
  t.equal(err.errorClass, 'network')
  t.notMatch(JSON.stringify(h.lines), 'hunter2')
  t.notMatch(JSON.stringify(err), 'hunter2')
  t.same(h.lines.find((l) => l.level === 'warn')?.obj, { upstream: 'bandwidth', errorClass: 'network', retryInSeconds: 1, servingHeldToken: false })
})

t.test('a wrapping source passing on the provider\'s failure keeps its class', async (t) => {
  const clock = new FakeClock()
  const { fetch, requests } = scriptedProvider(() => new Response('', { status: 401 }))
  const provider = new ProviderSource({ upstream: () => upstreamConfig(), timeoutMs: 5000, fetch, clock })
  const fetched: FetchOutcome[] = []
  provider.on('fetched', (outcome) => { fetched.push(outcome) })
  const seen: Array<UpstreamToken | undefined> = []
  const wrapper: TokenSource = {
    fetch: async (last, signal) => {
      seen.push(last)
      return await provider.fetch(last, signal)
    }
  }
  const manager = new TokenManager({ id: 'bandwidth', source: wrapper, marginSeconds: 10, refreshAt: 0.8, clock })
  t.teardown(() => { manager.close() })
  const err = await appRejection(manager.getToken(), 'UPSTREAM_CREDENTIALS_REJECTED')
  t.equal(err.statusCode, 502)
  t.same(fetched, ['credentials_rejected'])
  t.same(seen, [undefined])
  t.equal(requests.length, 1)
  t.same(getEventListeners(requests[0]!.signal, 'abort'), [], 'the provider left nothing attached')
})

t.test('\'updated\' fires for each new token, after it is held', async (t) => {
  let n = 0
  const h = harness(t, (call) => upstreamToken(call.now, { accessToken: `tok-${++n}` }))
  const states: string[] = []
  h.manager.on('updated', () => { states.push(h.manager.state().state) })
  await h.manager.getToken()
  await h.clock.advanceAsync(2_880_000)
  t.same(h.updates.map((u) => u.accessToken.reveal()), ['tok-1', 'tok-2'])
  t.same(states, ['valid', 'valid'], 'listeners see the new token already held')
})

t.test('a throwing \'updated\' listener is logged by name only and does not break serving', async (t) => {
  for (const thrown of [new TypeError('secret detail'), 'secret detail']) {
    const h = harness(t, (call) => upstreamToken(call.now))
    const after: string[] = []
    h.manager.on('updated', () => { throw thrown })
    h.manager.on('updated', (token) => { after.push(token.accessToken.reveal()) })
    const issued = await h.manager.getToken()
    t.equal(issued.accessToken.reveal(), 'tok-1')
    t.same(after, ['tok-1'], 'later listeners still run')
    t.same(h.lines.filter((l) => l.msg === 'token listener threw').map((l) => [l.level, l.obj]), [
      ['error', { upstream: 'bandwidth', errorName: typeof thrown === 'string' ? 'string' : 'TypeError' }]
    ])
    t.notMatch(JSON.stringify(h.lines), 'secret detail')
    t.equal(h.manager.state().state, 'valid')
  }
})

t.test('a manager without \'updated\' listeners serves all the same', async (t) => {
  const clock = new FakeClock()
  const logger = captureLogger()
  const { lines } = logger
  const manager = new TokenManager({
    id: 'global', source: { fetch: async () => upstreamToken(clock.monotonic(), { expiresIn: 600 }) }, marginSeconds: 30, refreshAt: 0.8, clock, logger
  })
  t.teardown(() => { manager.close() })
  t.equal((await manager.getToken()).expiresIn, 570)
  t.equal(manager.listenerCount('updated'), 0)
  t.same(lines.map((l) => l.msg), ['upstream token refreshed'])
})

t.test('a `once` listener of \'updated\' runs once', async (t) => {
  let n = 0
  const h = harness(t, (call) => upstreamToken(call.now, { accessToken: `tok-${++n}` }))
  let calls = 0
  h.manager.once('updated', () => { calls++ })
  await h.manager.getToken()
  await h.clock.advanceAsync(2_880_000)
  await h.clock.advanceAsync(2_880_000)
  t.equal(n, 3, 'three tokens were held')
  t.equal(calls, 1)
  t.equal(h.manager.listenerCount('updated'), 1, 'only the harness listener is left')
})
