// GET /token/webrtc with `Authorization: Bearer <JWT>`: the identity provider's JWKS is served
// in-process (jose's customFetch), so every broken-JWT kind is checked through the real route.
import t, { type Test } from 'tap'
import { SignJWT, base64url } from 'jose'
import { build } from '../helpers/build.js'
import { createTestJwks, type TestJwks } from '../helpers/jwks.js'

async function setup (t: Test, env: Record<string, string | undefined> = {}): Promise<{ idp: TestJwks, app: Awaited<ReturnType<typeof build>>['app'], logs: string[] }> {
  const idp = await createTestJwks()
  t.teardown(async () => { await idp.close() })
  const { app, logs } = await build(t, {
    env: { AUTH_JWKS_URL: idp.jwksUrl.href, AUTH_ISSUER: idp.issuer, AUTH_AUDIENCE: idp.audience, ...env },
    auth: { customFetch: idp.fetch }
  })
  return { idp, app, logs }
}

const bearer = (jwt: string): Record<string, string> => ({ authorization: `Bearer ${jwt}` })

t.test('a valid RS256 JWT gets a token; identity is its sub', async (t) => {
  const { idp, app } = await setup(t, { RATE_LIMIT_MAX: '1' })
  const res = await app.inject({ url: '/token/webrtc', headers: bearer(await idp.sign({ sub: 'alice' })) })
  t.equal(res.statusCode, 200)
  t.equal(res.json().upstream, 'global')
  // The rate limit is per identity: alice is now out of budget, bob is not.
  const again = await app.inject({ url: '/token/webrtc', headers: bearer(await idp.sign({ sub: 'alice' })) })
  t.equal(again.statusCode, 429)
  const bob = await app.inject({ url: '/token/webrtc', headers: bearer(await idp.sign({ sub: 'bob' })) })
  t.equal(bob.statusCode, 200)
})

t.test('JWT-only configuration: API keys are refused', async (t) => {
  const { app } = await setup(t, { API_KEYS: undefined })
  const res = await app.inject({ url: '/token/webrtc', headers: { 'x-api-key': 'k'.repeat(40) } })
  t.equal(res.statusCode, 401)
})

t.test('every broken JWT kind is a 401 with WWW-Authenticate: Bearer', async (t) => {
  const { idp, app } = await setup(t, { RATE_LIMIT_MAX: '100' })
  const now = Math.floor(Date.now() / 1000)
  const header = base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }))
  const payload = base64url.encode(JSON.stringify({ sub: 'mallory', iss: idp.issuer, aud: idp.audience, exp: now + 300 }))
  const hs256 = await new SignJWT({ sub: 'mallory' })
    .setProtectedHeader({ alg: 'HS256', kid: idp.currentKid })
    .setIssuer(idp.issuer).setAudience(idp.audience).setExpirationTime(now + 300)
    .sign(new TextEncoder().encode(await idp.publicKeyPem()))
  const unpublished = await idp.addKey({ publish: false })
  const valid = await idp.sign({ sub: 'alice' })
  const [h, p, s] = valid.split('.') as [string, string, string]
  const tampered = `${h}.${base64url.encode(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), sub: 'root' }))}.${s}`
  const cases: Array<[string, string]> = [
    ['expired', await idp.sign({ exp: now - 120 })],
    ['not yet valid', await idp.sign({ nbf: now + 120 })],
    ['wrong iss', await idp.sign({ iss: 'https://evil.test/' })],
    ['wrong aud', await idp.sign({ aud: 'someone-else' })],
    ['no sub', await idp.sign({ sub: undefined })],
    ['alg none', `${header}.${payload}.`],
    ['HS256 signed with the public key', hs256],
    ['unknown kid', await idp.sign({}, { kid: unpublished })],
    ['tampered payload', tampered],
    ['truncated', valid.slice(0, -10)],
    ['junk', 'not.a.jwt']
  ]
  for (const [name, jwt] of cases) {
    const res = await app.inject({ url: '/token/webrtc', headers: bearer(jwt) })
    t.equal(res.statusCode, 401, name)
    t.equal(res.headers['www-authenticate'], 'Bearer', name)
    t.notMatch(res.body, jwt, `${name}: the JWT is not echoed`)
  }
})

t.test('an unreachable JWKS is a 401, logged at warn without the JWT', async (t) => {
  const { idp, app, logs } = await setup(t)
  idp.setAvailable(false)
  const jwt = await idp.sign({ sub: 'alice' })
  const res = await app.inject({ url: '/token/webrtc', headers: bearer(jwt) })
  t.equal(res.statusCode, 401)
  t.match(logs.join('\n'), /JWKS unavailable/)
  t.notMatch(logs.join('\n'), jwt)
})
