// The auth plugin's order of defence, through the real route: an address out of its
// failed-authentication budget is refused (429) before any signature check or JWKS fetch, and
// for a right API key or a cached JWT as for a wrong one; a JWKS that fails is asked again at
// most once per cool-down and warned about once, however many requests arrive; API-key and JWT
// callers with the same name are different identities, counted apart and logged with their
// `authMethod`; SIGHUP's forgetJwts drops every verified JWT, those in flight included.
import t from 'tap'
import { JWKS_FAILURE_COOLDOWN_MS } from '../../src/auth/jwt-verifier.js'
import { build } from '../helpers/build.js'
import { parsedLogs } from '../helpers/output.js'
import { deferred } from '../helpers/fake-provider.js'
import { createTestJwks } from '../helpers/jwks.js'

const ALICE_KEY = 'alice-key-0123456789abcdef0123456789ab'

t.test('an address that used up its budget gets 429 before any JWT work', async (t) => {
  const idp = await createTestJwks()
  t.teardown(async () => { await idp.close() })
  let signatureChecks = 0
  const remote = idp.fetch
  const { app } = await build(t, {
    env: { AUTH_JWKS_URL: idp.jwksUrl.href, AUTH_ISSUER: idp.issuer, AUTH_AUDIENCE: idp.audience, RATE_LIMIT_MAX: '3' },
    auth: { customFetch: async (...args) => { signatureChecks++; return await remote(...args) } }
  })
  const forged = async (i: number): Promise<string> => await idp.sign({ sub: `x${i}` }, { header: { kid: `forged-${i}` } })
  for (let i = 0; i < 3; i++) {
    const res = await app.inject({ url: '/token/webrtc', headers: { authorization: `Bearer ${await forged(i)}` } })
    t.equal(res.statusCode, 401, `failure ${i + 1} of 3`)
  }
  const lookups = signatureChecks
  const refused = await app.inject({ url: '/token/webrtc', headers: { authorization: `Bearer ${await forged(9)}` } })
  t.equal(refused.statusCode, 429, 'the budget is used up')
  t.equal(refused.json().code, 'RATE_LIMITED')
  t.ok(Number(refused.headers['retry-after']) >= 1 && Number(refused.headers['retry-after']) <= 60)
  t.equal(signatureChecks, lookups, 'no JWKS fetch for the refused request')
  const elsewhere = await app.inject({ url: '/token/webrtc', headers: { authorization: `Bearer ${await idp.sign({ sub: 'ok' })}` }, remoteAddress: '10.1.2.3' })
  t.equal(elsewhere.statusCode, 200, 'another address is not locked out')
})

t.test('an address out of budget gets 429 for a JWT it had verified before, as for any other', async (t) => {
  const idp = await createTestJwks()
  t.teardown(async () => { await idp.close() })
  const { app } = await build(t, {
    env: { AUTH_JWKS_URL: idp.jwksUrl.href, AUTH_ISSUER: idp.issuer, AUTH_AUDIENCE: idp.audience, RATE_LIMIT_MAX: '3', API_KEYS: `alice:${ALICE_KEY}` },
    auth: { customFetch: idp.fetch }
  })
  const bearer = { authorization: `Bearer ${await idp.sign({ sub: 'bob' })}` }
  t.equal((await app.inject({ url: '/token/webrtc', headers: bearer })).statusCode, 200, 'verified, and cached')
  const wrong = { 'x-api-key': 'w'.repeat(40) }
  const statuses: number[] = []
  for (let i = 0; i < 4; i++) statuses.push((await app.inject({ url: '/token/webrtc', headers: wrong })).statusCode)
  t.same(statuses, [401, 401, 401, 429], 'three failures use up the budget')
  const cached = await app.inject({ url: '/token/webrtc', headers: bearer })
  t.equal(cached.statusCode, 429, 'the cached JWT is refused too: the answer says nothing about which JWTs were verified')
  t.equal(cached.json().code, 'RATE_LIMITED')
  t.equal((await app.inject({ url: '/token/webrtc', headers: bearer, remoteAddress: '10.1.2.3' })).statusCode, 200, 'the JWT still works from another address')
})

t.test('an IPv6 client gets one failed-authentication budget for its whole /64', async (t) => {
  const { app } = await build(t, { env: { RATE_LIMIT_MAX: '2' } })
  const guess = { 'x-api-key': 'g'.repeat(40) }
  t.equal((await app.inject({ url: '/token/webrtc', headers: guess, remoteAddress: '2001:db8:1:2::1' })).statusCode, 401)
  t.equal((await app.inject({ url: '/token/webrtc', headers: guess, remoteAddress: '2001:db8:1:2::ffff' })).statusCode, 401)
  t.equal((await app.inject({ url: '/token/webrtc', headers: guess, remoteAddress: '2001:db8:1:2:aaaa:bbbb:cccc:dddd' })).statusCode, 429, 'a third address in the same /64 shares the budget')
  t.equal((await app.inject({ url: '/token/webrtc', headers: guess, remoteAddress: '2001:db8:1:3::1' })).statusCode, 401, 'the next /64 has its own')
})

t.test('a failing JWKS is asked at most once per cool-down, and warned about once, under 30 concurrent JWTs', async (t) => {
  const idp = await createTestJwks()
  t.teardown(async () => { await idp.close() })
  let now = Date.now()
  idp.setAvailable(false)
  const { app, logs } = await build(t, {
    env: { AUTH_JWKS_URL: idp.jwksUrl.href, AUTH_ISSUER: idp.issuer, AUTH_AUDIENCE: idp.audience, LOG_LEVEL: 'info', RATE_LIMIT_MAX: '1000' },
    auth: { customFetch: idp.fetch, now: () => now }
  })
  const jwts = await Promise.all(Array.from({ length: 30 }, async (_, i) => await idp.sign({ sub: `user-${i}` })))
  const first = await Promise.all(jwts.map(async (jwt) => await app.inject({ url: '/token/webrtc', headers: { authorization: `Bearer ${jwt}` } })))
  t.same([...new Set(first.map((r) => r.statusCode))], [401])
  t.equal(idp.fetchCount, 1, '30 concurrent requests: one JWKS fetch')
  const second = await Promise.all(jwts.map(async (jwt) => await app.inject({ url: '/token/webrtc', headers: { authorization: `Bearer ${jwt}` } })))
  t.same([...new Set(second.map((r) => r.statusCode))], [401])
  t.equal(idp.fetchCount, 1, 'inside the cool-down: no fetch at all')
  const warnings = parsedLogs<{ level: number, msg: string }>(logs).filter((l) => l.level === 40 && l.msg.includes('JWKS'))
  t.same(warnings.map((l) => l.msg), ['cannot verify JWTs: JWKS unavailable'], 'one warning for 60 refused requests')
  const reasons = parsedLogs<{ authFailure?: string }>(logs).filter((l) => l.authFailure !== undefined)
  t.ok(reasons.length === 60 && reasons.every((l) => l.authFailure === 'jwks_unavailable'), 'each request line says why')

  idp.setAvailable(true)
  now += JWKS_FAILURE_COOLDOWN_MS
  const healed = await app.inject({ url: '/token/webrtc', headers: { authorization: `Bearer ${jwts[0] as string}` } })
  t.equal(healed.statusCode, 200, 'asked again after the cool-down')
  t.equal(idp.fetchCount, 2)
})

t.test('a JWKS outage does not spend the address\'s budget of failures: valid JWTs work as soon as it heals', async (t) => {
  const idp = await createTestJwks()
  t.teardown(async () => { await idp.close() })
  let now = Date.now()
  idp.setAvailable(false)
  const { app } = await build(t, {
    env: { AUTH_JWKS_URL: idp.jwksUrl.href, AUTH_ISSUER: idp.issuer, AUTH_AUDIENCE: idp.audience, RATE_LIMIT_MAX: '2' },
    auth: { customFetch: idp.fetch, now: () => now }
  })
  const jwt = { authorization: `Bearer ${await idp.sign({ sub: 'office-user' })}` }
  const during: number[] = []
  for (let i = 0; i < 5; i++) during.push((await app.inject({ url: '/token/webrtc', headers: jwt })).statusCode)
  t.same(during, [401, 401, 401, 401, 401], 'refused, never 429, past a budget of 2')
  idp.setAvailable(true)
  now += JWKS_FAILURE_COOLDOWN_MS
  t.equal((await app.inject({ url: '/token/webrtc', headers: jwt })).statusCode, 200, 'served once it is back')
  const guess = { 'x-api-key': 'g'.repeat(40) }
  const guesses = [] as number[]
  for (let i = 0; i < 3; i++) guesses.push((await app.inject({ url: '/token/webrtc', headers: guess })).statusCode)
  t.same(guesses, [401, 401, 429], 'wrong credentials still spend it')
})

t.test('an API key named alice and a JWT for sub alice are two identities', async (t) => {
  const idp = await createTestJwks()
  t.teardown(async () => { await idp.close() })
  const { app, logs } = await build(t, {
    env: { AUTH_JWKS_URL: idp.jwksUrl.href, AUTH_ISSUER: idp.issuer, AUTH_AUDIENCE: idp.audience, API_KEYS: `alice:${ALICE_KEY}`, RATE_LIMIT_MAX: '2', LOG_LEVEL: 'info' },
    auth: { customFetch: idp.fetch }
  })
  const key = { 'x-api-key': ALICE_KEY }
  const jwt = { authorization: `Bearer ${await idp.sign({ sub: 'alice' })}` }
  t.equal((await app.inject({ url: '/token/webrtc', headers: key })).statusCode, 200)
  t.equal((await app.inject({ url: '/token/webrtc', headers: key })).statusCode, 200)
  t.equal((await app.inject({ url: '/token/webrtc', headers: key })).statusCode, 429, 'the key is out of budget')
  t.equal((await app.inject({ url: '/token/webrtc', headers: jwt })).statusCode, 200, 'the JWT caller named alice has a budget of its own')
  const served = parsedLogs<{ msg: string, status?: number, caller?: string, authMethod?: string }>(logs)
    .filter((l) => l.msg === 'request completed' && l.status === 200)
  t.same(served.map((l) => [l.caller, l.authMethod]), [['alice', 'api_key'], ['alice', 'api_key'], ['alice', 'jwt']], 'the log line says which')
})

t.test('forgetJwts (SIGHUP) drops the verified-JWT cache and the fetched JWKS', async (t) => {
  const idp = await createTestJwks()
  t.teardown(async () => { await idp.close() })
  const { app } = await build(t, {
    env: { AUTH_JWKS_URL: idp.jwksUrl.href, AUTH_ISSUER: idp.issuer, AUTH_AUDIENCE: idp.audience },
    auth: { customFetch: idp.fetch }
  })
  const jwt = await idp.sign({ sub: 'carol' })
  const headers = { authorization: `Bearer ${jwt}` }
  t.equal((await app.inject({ url: '/token/webrtc', headers })).statusCode, 200)
  const fetches = idp.fetchCount
  t.equal((await app.inject({ url: '/token/webrtc', headers })).statusCode, 200)
  t.equal(idp.fetchCount, fetches, 'served from the cache')
  idp.unpublish(idp.currentKid)
  t.equal((await app.inject({ url: '/token/webrtc', headers })).statusCode, 200, 'a withdrawn key still verifies while cached')
  app.forgetJwts()
  const after = await app.inject({ url: '/token/webrtc', headers })
  t.equal(after.statusCode, 401, 'after forgetJwts the withdrawn key no longer verifies')
  t.equal(idp.fetchCount, fetches + 1, 'the JWKS was fetched again')
})

t.test('forgetJwts during a verification: the key that verification fetched before it is not trusted', async (t) => {
  const idp = await createTestJwks()
  t.teardown(async () => { await idp.close() })
  const fetched = deferred()
  const release = deferred()
  let held = false
  const { app } = await build(t, {
    env: { AUTH_JWKS_URL: idp.jwksUrl.href, AUTH_ISSUER: idp.issuer, AUTH_AUDIENCE: idp.audience },
    auth: {
      async customFetch (...args) {
        const res = await idp.fetch(...args)
        if (!held) {
          held = true
          fetched.resolve()
          await release.promise
        }
        return res
      }
    }
  })
  const headers = { authorization: `Bearer ${await idp.sign({ sub: 'mallory' })}` }
  const inFlight = app.inject({ url: '/token/webrtc', headers })
  await fetched.promise
  // The JWKS holding the key is on its way; meanwhile the key is withdrawn and SIGHUP arrives.
  idp.unpublish(idp.currentKid)
  app.forgetJwts()
  release.resolve()
  t.equal((await inFlight).statusCode, 401, 'checked again against the JWKS fetched after the reset')
  t.equal((await app.inject({ url: '/token/webrtc', headers })).statusCode, 401, 'and not cached')
})

t.test('an address out of budget gets the same 429 for a right API key as for a wrong one', async (t) => {
  const { app, logs } = await build(t, { env: { RATE_LIMIT_MAX: '3', API_KEYS: `alice:${ALICE_KEY}` } })
  const wrong = { 'x-api-key': 'w'.repeat(40) }
  const statuses: number[] = []
  for (let i = 0; i < 4; i++) statuses.push((await app.inject({ url: '/token/webrtc', headers: wrong })).statusCode)
  t.same(statuses, [401, 401, 401, 429], 'three failures use up the budget')
  const right = await app.inject({ url: '/token/webrtc', headers: { 'x-api-key': ALICE_KEY } })
  t.equal(right.statusCode, 429, 'the right key from that address is refused too: guessing learns nothing')
  t.equal(right.json().code, 'RATE_LIMITED')
  const retryAfter = Number(right.headers['retry-after'])
  t.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`)
  t.match(logs.at(-1), /"authFailure":"address_over_budget"/)
  t.notMatch(logs.at(-1), /"caller"/, 'no caller is named for a refused address')
  const elsewhere = await app.inject({ url: '/token/webrtc', headers: { 'x-api-key': ALICE_KEY }, remoteAddress: '10.1.2.3' })
  t.equal(elsewhere.statusCode, 200, 'the key still works from another address')
})

t.test('the attempt right after the failure that uses the budget up is refused, right key or cached JWT alike', async (t) => {
  const idp = await createTestJwks()
  t.teardown(async () => { await idp.close() })
  const { app } = await build(t, {
    env: { RATE_LIMIT_MAX: '3', API_KEYS: `alice:${ALICE_KEY}`, AUTH_JWKS_URL: idp.jwksUrl.href, AUTH_ISSUER: idp.issuer, AUTH_AUDIENCE: idp.audience },
    auth: { customFetch: idp.fetch }
  })
  const from = (remoteAddress: string) => async (headers: Record<string, string>): Promise<number> =>
    (await app.inject({ url: '/token/webrtc', headers, remoteAddress })).statusCode
  const wrong = { 'x-api-key': 'w'.repeat(40) }
  const guess = from('10.9.9.1')
  t.same([await guess(wrong), await guess(wrong), await guess(wrong)], [401, 401, 401], 'three failures, each within the budget')
  t.equal(await guess({ 'x-api-key': ALICE_KEY }), 429, 'a fourth guess learns nothing, even when it is right')

  const cachedJwt = { authorization: `Bearer ${await idp.sign({ sub: 'carol' })}` }
  const other = from('10.9.9.2')
  t.equal(await other(cachedJwt), 200, 'verified, and now cached')
  t.same([await other(wrong), await other(wrong), await other(wrong)], [401, 401, 401])
  t.equal(await other(cachedJwt), 429, 'a cached JWT gets the same 429 as an uncached one')
})
