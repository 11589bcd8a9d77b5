// createJwtVerifier: accepts well-signed asymmetric JWTs with the right claims, and turns every
// kind of broken token into a generic 401 with a log-safe reason, without leaking the token.
import t from 'tap'
import type { Test } from 'tap'
import { base64url, CompactSign, generateKeyPair, SignJWT } from 'jose'
import { createJwtVerifier, JwtVerificationError, MAX_JWT_LENGTH } from '../../src/auth/jwt-verifier.js'
import type { JwtFailureReason, JwtVerifier } from '../../src/auth/jwt-verifier.js'
import { createTestJwks, verifierFor } from '../helpers/jwks.js'

const T0 = Date.UTC(2026, 10, 22, 10, 0, 0)
const nowSeconds = T0 / 1000
const clock = (): number => T0

const idp = await createTestJwks({ now: clock })
t.teardown(() => idp.close())

const verifier = verifierFor(idp)

async function rejects (t: Test, jwt: string, reason: JwtFailureReason, v: JwtVerifier = verifier): Promise<void> {
  const err = await v.verify(jwt).then(() => undefined, (e: unknown) => e)
  t.ok(err instanceof JwtVerificationError, `rejected (${reason})`)
  const e = err as JwtVerificationError
  t.equal(e.reason, reason)
  t.equal(e.message, `JWT refused: ${reason}`, 'a fixed message: the reason, nothing from the token')
  t.equal(e.cause, undefined, 'no cause: jose errors carry the payload')
  const shown = JSON.stringify({ ...e, message: e.message, stack: e.stack })
  if (typeof jwt === 'string' && jwt.length > 0) t.notOk(shown.includes(jwt), 'the token appears nowhere on the error')
}

const b64json = (value: unknown): string => base64url.encode(JSON.stringify(value))
const validClaims = () => ({ iss: idp.issuer, aud: idp.audience, sub: 'user-1', iat: nowSeconds, exp: nowSeconds + 300 })

t.test('valid tokens return their subject', async t => {
  t.same(await verifier.verify(await idp.sign({ sub: 'alice' })), { sub: 'alice' }, 'RS256')

  const ec = await createTestJwks({ alg: 'ES256', now: clock })
  t.teardown(() => ec.close())
  t.same(await verifierFor(ec).verify(await ec.sign({ sub: 'bob' })), { sub: 'bob' }, 'ES256')

  for (const alg of ['PS256', 'ES384', 'EdDSA'] as const) {
    const kid = await idp.addKey({ alg })
    // A fresh verifier: the shared one is inside its JWKS cooldown (see jwt-verifier-jwks.test.ts).
    t.same(await verifierFor(idp).verify(await idp.sign({ sub: alg }, { kid })), { sub: alg }, alg)
  }
  t.same(await verifier.verify(await idp.sign({ aud: ['other', idp.audience] })), { sub: 'user-1' }, 'aud as an array containing ours')
})

t.test('over real HTTP as well (no customFetch)', async t => {
  const http = verifierFor(idp, { customFetch: undefined })
  t.same(await http.verify(await idp.sign({ sub: 'carol' })), { sub: 'carol' })
})

t.test('exp: rejected beyond the leeway, accepted within it', async t => {
  await rejects(t, await idp.sign({ exp: nowSeconds - 6 }), 'expired')
  await rejects(t, await idp.sign({ exp: nowSeconds - 5 }), 'expired', verifier)
  t.same(await verifier.verify(await idp.sign({ exp: nowSeconds - 3 })), { sub: 'user-1' }, '3 s past exp, 5 s leeway')
  const strict = verifierFor(idp, { clockToleranceSeconds: 0 })
  await rejects(t, await idp.sign({ exp: nowSeconds - 1 }), 'expired', strict)
})

t.test('nbf: in the future beyond the leeway is rejected', async t => {
  await rejects(t, await idp.sign({ nbf: nowSeconds + 60 }), 'not_yet_valid')
  t.same(await verifier.verify(await idp.sign({ nbf: nowSeconds + 3 })), { sub: 'user-1' }, 'within leeway')
})

t.test('iss and aud must match', async t => {
  await rejects(t, await idp.sign({ iss: 'https://evil.test/' }), 'wrong_issuer')
  await rejects(t, await idp.sign({ iss: undefined }), 'missing_claim')
  await rejects(t, await idp.sign({ aud: 'some-other-api' }), 'wrong_audience')
  await rejects(t, await idp.sign({ aud: ['a', 'b'] }), 'wrong_audience')
  await rejects(t, await idp.sign({ aud: undefined }), 'missing_claim')
})

t.test('sub must be a non-empty string; exp must be present and a number', async t => {
  await rejects(t, await idp.sign({ sub: undefined }), 'missing_claim')
  await rejects(t, await idp.sign({ sub: '' }), 'invalid_claim')
  await rejects(t, await idp.sign({ sub: 42 as unknown as string }), 'invalid_claim')
  await rejects(t, await idp.sign({ exp: undefined }), 'missing_claim')
  await rejects(t, await idp.sign({ exp: 'tomorrow' as unknown as number }), 'invalid_claim')
})

t.test('alg: none is refused, with or without a signature segment', async t => {
  const header = b64json({ alg: 'none', typ: 'JWT' })
  const payload = b64json(validClaims())
  await rejects(t, `${header}.${payload}.`, 'malformed')
  await rejects(t, `${header}.${payload}.AAAA`, 'alg_not_allowed')
  await rejects(t, `${b64json({ alg: 'none', kid: idp.currentKid })}.${payload}.AAAA`, 'alg_not_allowed')
})

t.test('HS256 keyed with the public key (algorithm confusion) is refused', async t => {
  const pem = await idp.publicKeyPem()
  for (const secret of [new TextEncoder().encode(pem), Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64')]) {
    const forged = await new SignJWT(validClaims())
      .setProtectedHeader({ alg: 'HS256', kid: idp.currentKid, typ: 'JWT' })
      .sign(secret)
    await rejects(t, forged, 'alg_not_allowed')
  }
})

t.test('unknown kid, forged kid, and ambiguous key selection', async t => {
  const unpublished = await idp.addKey({ publish: false })
  await rejects(t, await idp.sign({}, { kid: unpublished }), 'unknown_kid')
  await rejects(t, await idp.sign({}, { header: { kid: 'no-such-kid' } }), 'unknown_kid')
  // No kid at all while the JWKS holds several RS256 keys: jose refuses to guess.
  await idp.addKey({ alg: 'RS256' })
  await rejects(t, await idp.sign({}, { header: { kid: undefined } }), 'ambiguous_kid', verifierFor(idp))
})

t.test('a key from another issuer under a published kid fails the signature check', async t => {
  const other = await createTestJwks({ now: clock })
  t.teardown(() => other.close())
  await rejects(t, await other.sign({}, { header: { kid: idp.currentKid } }), 'bad_signature')
})

t.test('tampering is detected', async t => {
  const [h, , s] = (await idp.sign({ sub: 'alice' })).split('.')
  await rejects(t, `${h}.${b64json({ ...validClaims(), sub: 'admin' })}.${s}`, 'bad_signature')
  const good = await idp.sign({ sub: 'alice', jti: 'tamper-sig' })
  const last = good.at(-2) === 'A' ? 'B' : 'A'
  await rejects(t, good.slice(0, -2) + last + good.slice(-1), 'bad_signature')
  await rejects(t, good.split('.').slice(0, 2).join('.') + '.' + 'A'.repeat(342), 'bad_signature')
})

t.test('garbage and truncated strings are malformed, before any key lookup', async t => {
  let lookups = 0
  const counting = verifierFor(idp, { jwks: async () => { lookups++; throw new Error('not reached') } })
  const good = await idp.sign()
  for (const junk of ['', 'abc', 'a.b', 'a.b.c.d', 'a..c', '.b.c', 'a.b.', 'a b.c.d', 'é.b.c', good.slice(0, good.lastIndexOf('.')),
    good + '.', 'a.b.' + 'c'.repeat(MAX_JWT_LENGTH), undefined as unknown as string]) {
    await rejects(t, junk, 'malformed', counting)
  }
  t.equal(lookups, 0, 'structural pre-check rejects before any key lookup')
})

t.test('three segments of junk, or a correctly signed non-JSON payload, are malformed', async t => {
  await rejects(t, 'abc.def.ghi', 'malformed')
  await rejects(t, `${b64json(['RS256'])}.${b64json(validClaims())}.c2ln`, 'malformed', verifierFor(idp))
  // The signature verifies, the claims set does not parse.
  const { publicKey, privateKey } = await generateKeyPair('ES256')
  const jws = await new CompactSign(new TextEncoder().encode('not json')).setProtectedHeader({ alg: 'ES256' }).sign(privateKey)
  await rejects(t, jws, 'malformed', verifierFor(idp, { jwks: async () => publicKey }))
})

t.test('options are validated', async t => {
  const base = { jwksUrl: idp.jwksUrl, issuer: 'i', audience: 'a' }
  t.throws(() => createJwtVerifier({ ...base, issuer: '' }), TypeError)
  t.throws(() => createJwtVerifier({ ...base, audience: '' }), TypeError)
  t.throws(() => createJwtVerifier({ ...base, clockToleranceSeconds: -1 }), TypeError)
  t.throws(() => createJwtVerifier({ ...base, clockToleranceSeconds: Number.NaN }), TypeError)
  t.ok(createJwtVerifier(base), 'defaults are enough (real clock, remote JWKS)')
})
