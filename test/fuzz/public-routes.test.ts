// Fuzz of the public routes with fast-check, through inject: random methods, paths, query
// strings, header names, sizes and bytes, junk and near-miss API keys, junk, truncated, tampered
// and wrongly signed JWTs, and bodies up to well past the body limit. Properties: never a 5xx,
// never a crash (the app still serves afterwards), and never a token for a caller without a
// valid credential. FUZZ_RUNS sets the number of cases (default 2000); FUZZ_SEED replays a run.
import t from 'tap'
import fc from 'fast-check'
import { SignJWT } from 'jose'
import { API_KEY, OTHER_KEY, build } from '../helpers/build.js'
import { parsedLogs } from '../helpers/output.js'
import { fakeProvider } from '../helpers/fake-provider.js'
import { createTestJwks } from '../helpers/jwks.js'

const RUNS = Number(process.env.FUZZ_RUNS ?? 2000)
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED)
const ORIGIN = 'https://app.example.test'

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')

/** Same JWT: header and payload exactly, signature as decoded bytes (its last base64url character has spare bits). */
function sameJwt (candidate: string, valid: string): boolean {
  const [h1, p1, s1, ...rest1] = candidate.split('.')
  const [h2, p2, s2] = valid.split('.')
  return rest1.length === 0 && h1 === h2 && p1 === p2 && s1 !== undefined && s2 !== undefined &&
    /^[A-Za-z0-9_-]*$/.test(s1) && Buffer.from(s1, 'base64url').equals(Buffer.from(s2, 'base64url'))
}

t.test(`fuzzing the public routes (${RUNS} cases)`, async (t) => {
  const idp = await createTestJwks()
  t.teardown(async () => { await idp.close() })
  const provider = fakeProvider()
  const { app, logs } = await build(t, {
    provider,
    env: {
      LOG_LEVEL: 'info',
      AUTH_JWKS_URL: idp.jwksUrl.href,
      AUTH_ISSUER: idp.issuer,
      AUTH_AUDIENCE: idp.audience,
      CORS_ORIGINS: ORIGIN,
      RATE_LIMIT_MAX: '150'
    },
    auth: { customFetch: idp.fetch }
  })

  const now = Math.floor(Date.now() / 1000)
  const validJwt = await idp.sign({ sub: 'fuzz-user' })
  const unpublished = await idp.addKey({ publish: false })
  const [header, payload] = validJwt.split('.') as [string, string]
  const badJwts = [
    await idp.sign({ sub: 'late', exp: now - 3600 }),
    await idp.sign({ sub: 'early', nbf: now + 3600 }),
    await idp.sign({ sub: 'wrong-iss', iss: 'https://evil.test/' }),
    await idp.sign({ sub: 'wrong-aud', aud: 'someone-else' }),
    await idp.sign({ sub: undefined }),
    await idp.sign({ sub: 'unknown-kid' }, { kid: unpublished }),
    await idp.sign({ sub: 'forged-kid' }, { header: { kid: 'no-such-key' } }),
    await new SignJWT({ sub: 'hmac', iss: idp.issuer, aud: idp.audience }).setProtectedHeader({ alg: 'HS256', kid: idp.currentKid })
      .setIssuedAt().setExpirationTime('5m').sign(new TextEncoder().encode('a-shared-secret-0123456789abcdef')),
    `${b64({ alg: 'none', typ: 'JWT' })}.${payload}.`,
    `${b64({ alg: 'none' })}.${payload}`,
    `${header}.${b64({ sub: 'admin', iss: idp.issuer, aud: idp.audience, exp: now + 300 })}.${validJwt.split('.')[2] ?? ''}`,
    `${header}.${payload}`,
    `${'a'.repeat(9000)}.${'b'.repeat(9000)}.${'c'.repeat(9000)}`
  ]
  const validKeys = [API_KEY, OTHER_KEY]

  // ---- arbitraries ---------------------------------------------------------------------------
  const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 64 })
  const latin1 = fc.string({ unit: fc.integer({ min: 0x20, max: 0xff }).filter((c) => c !== 0x7f).map((c) => String.fromCharCode(c)), maxLength: 64 })
  const anyText = fc.oneof(printable, latin1, fc.string({ unit: 'binary', maxLength: 32 }), fc.string({ unit: 'grapheme', maxLength: 16 }))
  const bigText = fc.integer({ min: 1, max: 20_000 }).chain((n) => fc.constantFrom('a', '%', 'é', '.', '=').map((c) => c.repeat(n)))

  const mutate = (s: string): fc.Arbitrary<string> => fc.oneof(
    fc.integer({ min: 0, max: s.length }).map((i) => s.slice(0, i)), // truncated
    fc.tuple(fc.nat(), printable).map(([i, c]) => { const at = i % (s.length + 1); return s.slice(0, at) + c + s.slice(at + 1) }), // one or more chars replaced
    fc.constantFrom(` ${s}`, `${s} `, `${s}\t`, s.toUpperCase(), `${s}${s}`, s.replace(/\./g, ''), `${s}.`, `.${s}`)
  )
  const apiKey = fc.oneof(
    { weight: 2, arbitrary: fc.constantFrom(...validKeys) },
    { weight: 3, arbitrary: fc.constantFrom(...validKeys).chain(mutate) },
    { weight: 2, arbitrary: anyText },
    { weight: 1, arbitrary: bigText }
  )
  const jwt = fc.oneof(
    { weight: 2, arbitrary: fc.constant(validJwt) },
    { weight: 4, arbitrary: mutate(validJwt) },
    { weight: 2, arbitrary: fc.constantFrom(...badJwts) },
    { weight: 1, arbitrary: fc.tuple(fc.base64String(), fc.base64String(), fc.base64String()).map((p) => p.join('.')) },
    { weight: 1, arbitrary: anyText }
  )
  const authorization = fc.oneof(
    jwt.map((j) => `Bearer ${j}`),
    fc.tuple(fc.constantFrom('bearer', 'BEARER', 'Bearer  ', 'Basic', 'Token', ''), jwt).map(([s, j]) => `${s} ${j}`),
    fc.constantFrom(...validKeys).map((k) => `Bearer ${k}`),
    anyText
  )
  const credentials: fc.Arbitrary<{ 'x-api-key'?: string, authorization?: string }> = fc.oneof(
    fc.constant({}),
    apiKey.map((k) => ({ 'x-api-key': k })),
    authorization.map((a) => ({ authorization: a })),
    fc.tuple(apiKey, authorization).map(([k, a]) => ({ 'x-api-key': k, authorization: a }))
  )

  const segment = fc.oneof(
    fc.constantFrom('token', 'webrtc', 'healthz', 'readyz', 'metrics', 'client', 'token-client.js', '..', '.', '', '%2e%2e', '%00', '%zz', '%', '%E2%82', '*'),
    fc.webSegment(),
    printable.map((s) => encodeURIComponent(s)),
    anyText.map((s) => s.replace(/[?#\s]/g, ''))
  )
  const path = fc.oneof(
    { weight: 12, arbitrary: fc.constant('/token/webrtc') },
    { weight: 3, arbitrary: fc.constantFrom('/healthz', '/readyz', '/metrics', '/client/token-client.js') },
    { weight: 1, arbitrary: fc.constantFrom('/token/webrtc/', '/TOKEN/WEBRTC', '/token//webrtc', '/token/webrtc;x=1', '/token/%77ebrtc', '/', '*') },
    { weight: 3, arbitrary: fc.array(segment, { minLength: 0, maxLength: 6 }).map((s) => `/${s.join('/')}`) },
    { weight: 1, arbitrary: bigText.map((s) => `/token/${s}`) }
  // inject() parses the URL against http://localhost: a leading `//` or `/\` would become a host.
  // Such raw request targets go over a real socket in raw-http.test.ts instead.
  ).filter((p) => !/^\/[/\\]/.test(p))
  const queryValue = fc.oneof(fc.constantFrom('global', 'bandwidth', 'GLOBAL', '', 'unknown'), printable.map(encodeURIComponent), anyText, bigText)
  const queryKey = fc.oneof(fc.constantFrom('upstream', 'upstream', 'api_key', 'access_token', 'x-api-key', 'upstream[]', 'upstream[0]', '__proto__', 'constructor'), printable)
  const query = fc.oneof(
    { weight: 3, arbitrary: fc.constant('') },
    { weight: 4, arbitrary: fc.array(fc.tuple(queryKey, queryValue), { maxLength: 4 }).map((pairs) => `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}`) },
    { weight: 1, arbitrary: fc.constantFrom('?', '?&', '?=', '?upstream', '?upstream=%', '?upstream=%zz', '?upstream=global&upstream=bandwidth', '?upstream=global#frag', '??upstream=global') }
  )
  // Headers that would change how inject frames the request, or that the case sets itself, are left out.
  const FRAMING = new Set(['host', 'content-length', 'transfer-encoding', 'x-api-key', 'authorization', 'content-type', 'expect', 'connection', 'upgrade'])
  const headerName = fc.oneof(
    fc.constantFrom('x-forwarded-host', 'x-forwarded-proto', 'forwarded', 'cookie', 'accept', 'accept-encoding', 'if-none-match', 'range', 'user-agent', 'x-real-ip', 'access-control-request-method'),
    fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-'), minLength: 1, maxLength: 24 })
  ).filter((n) => !FRAMING.has(n))
  const extraHeaders = fc.dictionary(headerName, fc.oneof(printable, latin1, bigText.map((s) => s.slice(0, 8000))), { maxKeys: 6 })
  const method = fc.oneof(
    { weight: 12, arbitrary: fc.constant('GET') },
    { weight: 4, arbitrary: fc.constantFrom('HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'PROPFIND', 'SEARCH', 'LOCK') }
  )
  const body = fc.oneof(
    { weight: 4, arbitrary: fc.constant(undefined) },
    { weight: 2, arbitrary: anyText },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 64 * 1024 }).map((n) => 'x'.repeat(n)) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 8192 }).map((a) => Buffer.from(a)) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v) ?? 'null') }
  )
  const contentType = fc.constantFrom(undefined, 'application/json', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/octet-stream', 'application/json; charset=latin1', 'garbage')
  const misc = fc.record({
    origin: fc.constantFrom(undefined, ORIGIN, 'https://evil.test', 'null'),
    forwarded: fc.constantFrom(undefined, '203.0.113.9', 'garbage, 1.2.3.4'),
    requestId: fc.constantFrom(undefined, 'abc-123', 'x'.repeat(300), 'bad id'),
    remoteAddress: fc.constantFrom('127.0.0.1', '10.0.0.1', '192.0.2.7', '::1')
  })

  // ---- the property --------------------------------------------------------------------------
  const statuses = new Map<number, number>()
  let served = 0
  const property = fc.asyncProperty(method, path, query, credentials, extraHeaders, body, contentType, misc,
    async (m, p, q, creds, extra, payload, type, x) => {
      const headers: Record<string, string> = { ...extra, ...creds }
      if (type !== undefined) headers['content-type'] = type
      if (x.origin !== undefined) headers.origin = x.origin
      if (x.forwarded !== undefined) headers['x-forwarded-for'] = x.forwarded
      if (x.requestId !== undefined) headers['x-request-id'] = x.requestId
      const res = await app.inject({ method: m as 'GET', url: p + q, headers, payload, remoteAddress: x.remoteAddress })
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1)
      if (res.statusCode >= 500) throw new Error(`status ${res.statusCode}: ${res.body.slice(0, 200)}`)
      const key = creds['x-api-key']
      const bearer = /^Bearer +(\S+) *$/i.exec(creds.authorization ?? '')?.[1]
      const authentic = (key === undefined) !== (creds.authorization === undefined) &&
        ((key !== undefined && validKeys.includes(key.trim())) || (bearer !== undefined && sameJwt(bearer, validJwt)))
      const leaked = provider.issued.some((tok) => res.body.includes(tok))
      if (leaked && !authentic) throw new Error(`a token reached an unauthenticated caller (${m} ${p}${q})`)
      if (res.statusCode === 200 && String(res.headers['content-type']).startsWith('application/json') && res.body.includes('access_token')) {
        if (!authentic) throw new Error(`200 with a token for an unauthenticated caller (${m} ${p}${q})`)
        served++
      }
    })
  // Each refusal and status the checks below expect, and one authentic caller, run first every time: random
  // cases reach them too, but not in every run of a few hundred.
  const forged = `${header}.${b64({ sub: 'admin', iss: idp.issuer, aud: idp.audience, exp: now + 300 })}.${validJwt.split('.')[2] ?? ''}`
  const examples: Array<{ 'x-api-key'?: string, authorization?: string }> = [
    { 'x-api-key': API_KEY }, {}, { 'x-api-key': `${API_KEY}x` }, { 'x-api-key': API_KEY, authorization: `Bearer ${validJwt}` },
    { authorization: `Basic ${validJwt}` }, { authorization: 'Bearer not-a-jwt' }, { authorization: `Bearer ${forged}` }
  ]
  await fc.assert(property, {
    numRuns: RUNS,
    examples: [
      ...examples.map((creds) => ({ path: '/token/webrtc', query: '', creds })),
      { path: '/token/webrtc', query: '?upstream=unknown', creds: { 'x-api-key': API_KEY } },
      { path: '/nowhere', query: '', creds: {} }
    ].map(({ path, query, creds }) => ['GET', path, query, creds, {}, undefined, undefined,
      { origin: undefined, forwarded: undefined, requestId: undefined, remoteAddress: '192.0.2.7' }]),
    ...(SEED === undefined ? {} : { seed: SEED }),
    endOnFailure: true
  })

  t.comment(`statuses: ${[...statuses].sort(([a], [b]) => a - b).map(([s, n]) => `${s}×${n}`).join(' ')}; tokens served ${served}`)
  // The generator reaches deep: tokens served, and every refusal the routes have.
  t.ok(served > 0, 'some callers were authentic and served')
  for (const status of [400, 401, 404]) t.ok((statuses.get(status) ?? 0) > 0, `some ${status}s`)
  const lines = parsedLogs<{ level: number, authFailure?: string }>(logs)
  t.notOk(lines.some((l) => l.level >= 50), 'no error logged')
  // Authentication was exercised in depth: API keys and JWTs refused for many different reasons.
  const reasons = new Set(lines.map((l) => l.authFailure).filter((r) => r !== undefined))
  t.comment(`authentication failures seen: ${[...reasons].sort().join(', ')}`)
  for (const reason of ['missing_credentials', 'unknown_api_key', 'ambiguous_credentials', 'malformed_authorization', 'malformed', 'bad_signature']) {
    t.ok(reasons.has(reason), `some requests refused as ${reason}`)
  }

  // Still alive and serving.
  t.equal((await app.inject({ url: '/healthz' })).statusCode, 200)
  const after = await app.inject({ url: '/token/webrtc', headers: { authorization: `Bearer ${validJwt}` }, remoteAddress: '198.51.100.1' })
  t.equal(after.statusCode, 200)
})
