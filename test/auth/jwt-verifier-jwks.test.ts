// The verifier and the remote JWKS: key rotation (a new kid is accepted once jose's cooldown
// allows a refetch, well within the contract's 30 s), refetch flood protection, key removal,
// and an unreachable or broken JWKS endpoint (401 with reason 'jwks_unavailable').
//
// jose's cooldown and cache age read Date.now() directly, not the verifier's injected clock.
// Rather than sleep, these tests stop Date.now() at the start of each test and move it forward
// only by advance() (restored afterwards): jose's own cooldown logic runs unmodified, and "still
// inside the cooldown" holds however slowly a busy machine runs the test.
import t from 'tap'
import { JWKS_CACHE_MAX_AGE_MS, JWKS_COOLDOWN_MS, JWKS_FAILURE_COOLDOWN_MS } from '../../src/auth/jwt-verifier.js'
import type { JwtVerifierOptions } from '../../src/auth/jwt-verifier.js'
import { eventually } from '../helpers/eventually.js'
import { deferred } from '../helpers/fake-provider.js'
import { createTestJwks, reasonOf, verifierFor } from '../helpers/jwks.js'

let clockMs = Date.UTC(2026, 10, 22, 10, 0, 0)
const clock = (): number => clockMs

const realNow = Date.now
let dateNowMs = realNow()
t.beforeEach(() => {
  dateNowMs = realNow()
  Date.now = () => dateNowMs
})
t.afterEach(() => { Date.now = realNow })

/** Moves both clocks forward: the verifier's injected one and the Date.now() jose reads. */
function advance (ms: number): void {
  dateNowMs += ms
  clockMs += ms
}

/** The verifier fetching the JWKS over real HTTP from the IdP's server. */
const OVER_HTTP = { customFetch: undefined }

t.test('a rotated key is accepted within the contract\'s 30 s, even when the JWKS was fetched just before the rotation', async t => {
  const idp = await createTestJwks({ now: clock, ttlSeconds: 3600 })
  t.teardown(() => idp.close())
  const verifier = verifierFor(idp)
  t.same(await verifier.verify(await idp.sign({ sub: 'before' })), { sub: 'before' }, 'fetched now: the cooldown starts')
  await idp.rotate()
  const fresh = await idp.sign({ sub: 'new' })
  // A caller retries every second with the new key; each refusal is inside the cooldown.
  let acceptedAfterMs: number | undefined
  for (let elapsed = 0; elapsed <= 30_000 && acceptedAfterMs === undefined; elapsed += 1000) {
    if (elapsed > 0) advance(1000)
    if (await verifier.verify(fresh).then(() => true, () => false)) acceptedAfterMs = elapsed
  }
  t.ok(acceptedAfterMs !== undefined && acceptedAfterMs <= 30_000, `accepted ${acceptedAfterMs} ms after the rotation`)
  t.ok(acceptedAfterMs !== undefined && acceptedAfterMs > 0, 'not before the cooldown has passed')
  t.equal(idp.fetchCount, 2, 'with one refetch')
})

t.test('a verifier built after a rotation accepts the new kid', async t => {
  const idp = await createTestJwks({ now: clock })
  t.teardown(() => idp.close())
  await idp.rotate()
  t.same(await verifierFor(idp, OVER_HTTP).verify(await idp.sign({ sub: 'new' })), { sub: 'new' })
  t.equal(idp.fetchCount, 1)
})

t.test('a live verifier picks up a rotated key once the cooldown has passed, over real HTTP', async t => {
  const idp = await createTestJwks({ now: clock, ttlSeconds: 3600 })
  t.teardown(() => idp.close())
  const verifier = verifierFor(idp, OVER_HTTP)
  const oldKid = idp.currentKid
  t.same(await verifier.verify(await idp.sign({ sub: 'old' })), { sub: 'old' })
  t.equal(idp.fetchCount, 1)

  const newKid = await idp.rotate()
  const fresh = await idp.sign({ sub: 'new' })
  t.equal(await reasonOf(verifier.verify(fresh)), 'unknown_kid', 'inside the cooldown the JWKS is not refetched')
  for (let i = 0; i < 20; i++) {
    t.equal(await reasonOf(verifier.verify(await idp.sign({}, { header: { kid: `forged-${i}` } }))), 'unknown_kid')
  }
  t.equal(idp.fetchCount, 1, 'a flood of unknown kids costs no refetch during the cooldown')

  advance(JWKS_COOLDOWN_MS + 1)
  t.same(await verifier.verify(fresh), { sub: 'new' }, `new kid accepted ${JWKS_COOLDOWN_MS + 1} ms after the last fetch`)
  t.equal(idp.fetchCount, 2, 'exactly one refetch')
  t.same(await verifier.verify(await idp.sign({ sub: 'old-again' }, { kid: oldKid })), { sub: 'old-again' }, 'the old key, still published, still works')
  t.same(await verifier.verify(await idp.sign({ sub: 'new-again' }, { kid: newKid })), { sub: 'new-again' })
  t.equal(idp.fetchCount, 2)
})

t.test('a key removed from the JWKS stops being accepted, cache or not, within the JWKS max age', async t => {
  const idp = await createTestJwks({ now: clock, ttlSeconds: 7200 })
  t.teardown(() => idp.close())
  const verifier = verifierFor(idp)
  const oldKid = idp.currentKid
  const cached = await idp.sign({ sub: 'cached' })
  t.same(await verifier.verify(cached), { sub: 'cached' })

  await idp.rotate({ retireOld: true })
  t.same(await verifier.verify(cached), { sub: 'cached' }, 'served from cache meanwhile')
  t.same(await verifier.verify(await idp.sign({ sub: 'x' }, { kid: oldKid })), { sub: 'x' }, 'jose still holds the old key set')

  advance(JWKS_CACHE_MAX_AGE_MS + 1000)
  t.equal(await reasonOf(verifier.verify(cached)), 'unknown_kid', 'cached entry aged out with the key set; refetch dropped the key')
  t.equal(await reasonOf(verifier.verify(await idp.sign({}, { kid: oldKid }))), 'unknown_kid')
  t.same(await verifier.verify(await idp.sign({ sub: 'new' })), { sub: 'new' })
})

t.test('while a failed refetch cools down, the keys already held still verify; only an unknown kid waits', async t => {
  const idp = await createTestJwks({ now: clock })
  t.teardown(() => idp.close())
  const verifier = verifierFor(idp, OVER_HTTP)
  t.same(await verifier.verify(await idp.sign({ sub: 'first' })), { sub: 'first' })
  idp.setAvailable(false)
  // jose's own cooldown after the good fetch has passed, so a forged kid makes it fetch again: that fetch fails.
  advance(JWKS_COOLDOWN_MS)
  t.equal(await reasonOf(verifier.verify(await idp.sign({ sub: 'forged' }, { header: { kid: 'forged' } }))), 'jwks_unavailable')
  const fetches = idp.fetchCount
  t.same(await verifier.verify(await idp.sign({ sub: 'second' })), { sub: 'second' }, 'a held key verifies inside the cool-down')
  t.equal(await reasonOf(verifier.verify(await idp.sign({ sub: 'again' }, { header: { kid: 'forged-2' } }))), 'jwks_unavailable', 'an unknown kid cannot be looked up yet')
  t.equal(idp.fetchCount, fetches, 'and nothing was fetched for either')
  idp.setAvailable(true)
  advance(JWKS_CACHE_MAX_AGE_MS)
  t.same(await verifier.verify(await idp.sign({ sub: 'later' })), { sub: 'later' }, 'once the cool-down is over, the JWKS is fetched again')
  t.equal(idp.fetchCount, fetches + 1)
})

t.test('a fetch that fails after reset() (SIGHUP) puts no cool-down on the new key set', async t => {
  const idp = await createTestJwks({ now: clock })
  t.teardown(() => idp.close())
  const hung = deferred<Response>()
  let fetches = 0
  const verifier = verifierFor(idp, {
    async customFetch (...args) {
      if (fetches++ === 0) return await hung.promise
      return await idp.fetch(...args)
    }
  })
  const jwt = await idp.sign({ sub: 'after' })
  const inFlight = verifier.verify(jwt)
  await eventually(() => fetches > 0, 'the first fetch started')
  verifier.reset()
  hung.reject(new TypeError('fetch failed'))
  t.same(await inFlight, { sub: 'after' }, 'the verification in flight is checked again against the new key set')
  t.same(await verifier.verify(await idp.sign({ sub: 'next' })), { sub: 'next' }, 'and the new set is in no cool-down')
})

t.test('JWKS unavailable → 401 with reason jwks_unavailable, and recovery once it is back', async t => {
  const idp = await createTestJwks({ now: clock })
  t.teardown(() => idp.close())
  const jwt = await idp.sign({ sub: 'patient' })

  idp.setAvailable(false)
  const verifier = verifierFor(idp, OVER_HTTP)
  t.equal(await reasonOf(verifier.verify(jwt)), 'jwks_unavailable', 'HTTP 503')
  idp.setAvailable(true)
  const fetches = idp.fetchCount
  t.equal(await reasonOf(verifier.verify(jwt)), 'jwks_unavailable', 'inside the cool-down')
  t.equal(idp.fetchCount, fetches, 'the JWKS is not asked again inside the cool-down')
  advance(JWKS_FAILURE_COOLDOWN_MS)
  t.same(await verifier.verify(jwt), { sub: 'patient' }, 'failure was not cached')

  const cases: Array<[string, JwtVerifierOptions['customFetch']]> = [
    ['network error', async () => { throw new TypeError('fetch failed') }],
    ['timeout', async () => { throw Object.assign(new Error('aborted'), { name: 'TimeoutError' }) }],
    ['not JSON', async () => new Response('<html>', { status: 200 })],
    ['not a JWKS', async () => new Response('{"keys":"nope"}', { status: 200 })],
    ['a JWKS whose key does not import', async () => new Response(JSON.stringify({ keys: [{ kty: 'RSA', kid: idp.currentKid, n: '', e: '' }] }), { status: 200 })],
    ['a JWKS whose key is too weak (RSA < 2048 bits)', async () => new Response(JSON.stringify({ keys: [{ kty: 'RSA', kid: idp.currentKid, n: 'AQAB', e: 'AQAB' }] }), { status: 200 })]
  ]
  for (const [name, customFetch] of cases) {
    t.equal(await reasonOf(verifierFor(idp, { customFetch }).verify(jwt)), 'jwks_unavailable', name)
  }

  const closed = await createTestJwks({ now: clock })
  const orphan = await closed.sign()
  await closed.close()
  await closed.close()
  t.equal(await reasonOf(verifierFor(closed, OVER_HTTP).verify(orphan)), 'jwks_unavailable', 'connection refused')
})
