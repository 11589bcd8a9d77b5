// The verified-JWT cache: a token verified once is not verified again (no key lookup, no
// crypto) until its `exp`; never served past `exp` or past the JWKS max age; failures are not
// cached; the LRU bound holds. Time is the verifier's injected clock.
import t from 'tap'
import { createRemoteJWKSet, customFetch } from 'jose'
import type { JWTVerifyGetKey } from 'jose'
import { createJwtVerifier, JWKS_CACHE_MAX_AGE_MS, JWKS_FAILURE_COOLDOWN_MS } from '../../src/auth/jwt-verifier.js'
import type { JwtVerifierOptions } from '../../src/auth/jwt-verifier.js'
import { createTestJwks, reasonOf } from '../helpers/jwks.js'

const T0 = Date.UTC(2026, 10, 22, 10, 0, 0)
let clockMs = T0
const clock = (): number => clockMs
const idp = await createTestJwks({ now: clock })
t.teardown(() => idp.close())
t.beforeEach(() => { clockMs = T0 })

/** A verifier whose key getter counts its calls: one call = one full verification. */
function countingVerifier (opts: Partial<JwtVerifierOptions> = {}) {
  const remote = createRemoteJWKSet(idp.jwksUrl, { [customFetch]: idp.fetch })
  const counter = { lookups: 0 }
  const jwks: JWTVerifyGetKey = async (header, token) => {
    counter.lookups++
    return await remote(header, token)
  }
  const verifier = createJwtVerifier({ jwksUrl: idp.jwksUrl, issuer: idp.issuer, audience: idp.audience, now: clock, jwks, ...opts })
  return { verifier, counter }
}

t.test('the same JWT verified twice is verified once', async t => {
  const { verifier, counter } = countingVerifier()
  const jwt = await idp.sign({ sub: 'alice' })
  t.same(await verifier.verify(jwt), { sub: 'alice' })
  t.same(await verifier.verify(jwt), { sub: 'alice' })
  t.same(await verifier.verify(jwt), { sub: 'alice' })
  t.equal(counter.lookups, 1)
  t.same(await verifier.verify(await idp.sign({ sub: 'bob' })), { sub: 'bob' })
  t.equal(counter.lookups, 2, 'a different JWT is verified')
})

t.test('an entry is not served at or after exp; the leeway is then jose\'s business', async t => {
  const { verifier, counter } = countingVerifier()
  const jwt = await idp.sign({ exp: T0 / 1000 + 60 })
  await verifier.verify(jwt)
  clockMs = T0 + 59_999
  t.same(await verifier.verify(jwt), { sub: 'user-1' })
  t.equal(counter.lookups, 1, 'cached until just before exp')
  clockMs = T0 + 60_000
  t.same(await verifier.verify(jwt), { sub: 'user-1' }, 'at exp: re-verified, accepted within the leeway')
  t.equal(counter.lookups, 2)
  clockMs = T0 + 61_000
  t.same(await verifier.verify(jwt), { sub: 'user-1' })
  t.equal(counter.lookups, 3, 'accepted only thanks to the leeway: not cached')
  clockMs = T0 + 65_000
  t.equal(await reasonOf(verifier.verify(jwt)), 'expired')
  t.equal(counter.lookups, 4)
})

t.test('an entry is never served longer than the JWKS max age, even if exp is later', async t => {
  const { verifier, counter } = countingVerifier()
  const jwt = await idp.sign({ exp: T0 / 1000 + 86_400 })
  await verifier.verify(jwt)
  clockMs = T0 + JWKS_CACHE_MAX_AGE_MS - 1
  await verifier.verify(jwt)
  t.equal(counter.lookups, 1)
  clockMs = T0 + JWKS_CACHE_MAX_AGE_MS
  await verifier.verify(jwt)
  t.equal(counter.lookups, 2)
})

t.test('failures are not cached', async t => {
  const { verifier, counter } = countingVerifier()
  const wrongAud = await idp.sign({ aud: 'elsewhere' })
  t.equal(await reasonOf(verifier.verify(wrongAud)), 'wrong_audience')
  t.equal(await reasonOf(verifier.verify(wrongAud)), 'wrong_audience')
  t.equal(counter.lookups, 2)

  let up = false
  const flaky: JWTVerifyGetKey = async (header, token) => {
    if (!up) throw new TypeError('fetch failed')
    return await createRemoteJWKSet(idp.jwksUrl, { [customFetch]: idp.fetch })(header, token)
  }
  const v = createJwtVerifier({ jwksUrl: idp.jwksUrl, issuer: idp.issuer, audience: idp.audience, now: clock, jwks: flaky })
  const jwt = await idp.sign()
  t.equal(await reasonOf(v.verify(jwt)), 'jwks_unavailable')
  up = true
  t.equal(await reasonOf(v.verify(jwt)), 'jwks_unavailable', 'inside the cool-down the JWKS is not asked again')
  clockMs += JWKS_FAILURE_COOLDOWN_MS
  t.same(await v.verify(jwt), { sub: 'user-1' }, 'the failure itself was not cached')
})

t.test('cacheMax bounds the cache (LRU)', async t => {
  const { verifier, counter } = countingVerifier({ cacheMax: 1 })
  const a = await idp.sign({ sub: 'a' })
  const b = await idp.sign({ sub: 'b' })
  await verifier.verify(a)
  await verifier.verify(a)
  t.equal(counter.lookups, 1)
  await verifier.verify(b)
  await verifier.verify(a)
  t.equal(counter.lookups, 3, 'a was evicted by b')
})

t.test('verifiers do not share a cache (each has its own issuer/audience)', async t => {
  const jwt = await idp.sign()
  await countingVerifier().verifier.verify(jwt)
  const { verifier, counter } = countingVerifier()
  await verifier.verify(jwt)
  t.equal(counter.lookups, 1)
})
