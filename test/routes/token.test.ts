// GET /token/webrtc through inject: every status of the contract, headers, and error shapes.
import t, { type Test } from 'tap'
import { build, API_KEY, OTHER_KEY } from '../helpers/build.js'
import { FakeClock } from '../helpers/fake-clock.js'
import { fakeProvider } from '../helpers/fake-provider.js'

const KEY = { 'x-api-key': API_KEY }

function assertErrorShape (t: Test, body: Record<string, unknown>, status: number): void {
  t.equal(body.statusCode, status)
  t.type(body.error, 'string')
  t.type(body.message, 'string')
  t.type(body.code, 'string')
  t.same(Object.keys(body).sort(), ['code', 'error', 'message', 'statusCode'])
}

t.test('200 with an API key: the default upstream, contract fields and no-store headers', async (t) => {
  const clock = new FakeClock()
  const { app, provider } = await build(t, { tokens: { clock } })
  const res = await app.inject({ url: '/token/webrtc', headers: KEY })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['cache-control'], 'no-store')
  t.equal(res.headers.pragma, 'no-cache')
  const body = res.json()
  t.same(Object.keys(body).sort(), ['access_token', 'expires_at', 'expires_in', 'token_type', 'upstream'])
  t.equal(body.upstream, 'global')
  t.equal(body.token_type, 'Bearer')
  t.ok(provider.issued.includes(body.access_token), 'the token the provider issued')
  t.equal(body.expires_in, 570, '600 s token minus the 30 s margin')
  t.equal(body.expires_at, new Date(clock.wall() + 570_000).toISOString(), 'expires_at is that instant, ISO 8601 UTC')
})

t.test('HEAD is not served: nothing is counted or audited as a token handed out', async (t) => {
  const { app, logs } = await build(t, { env: { LOG_LEVEL: 'info', RATE_LIMIT_MAX: '1' }, tokens: { clock: new FakeClock() } })
  const head = await app.inject({ method: 'HEAD', url: '/token/webrtc', headers: KEY })
  t.equal(head.statusCode, 404)
  const line = JSON.parse(logs.at(-1) ?? '{}')
  t.match(line, { method: 'HEAD', status: 404 }, 'its log line')
  t.notOk('tokenSha256' in line || 'caller' in line, 'not an audit line: no caller, no token')
  t.equal((await app.inject({ url: '/token/webrtc', headers: KEY })).statusCode, 200, 'the caller\'s budget of one is untouched')
})

t.test('?upstream=bandwidth selects that upstream and its margin', async (t) => {
  const { app } = await build(t, { tokens: { clock: new FakeClock() } })
  const res = await app.inject({ url: '/token/webrtc?upstream=bandwidth', headers: KEY })
  t.equal(res.statusCode, 200)
  t.equal(res.json().upstream, 'bandwidth')
  t.equal(res.json().expires_in, 3590, '3600 s token minus the 10 s margin')
})

t.test('the only enabled upstream is the default', async (t) => {
  const { app } = await build(t, {
    env: { GLOBAL_WEBRTC_CLIENT_ID: undefined, GLOBAL_WEBRTC_CLIENT_SECRET: undefined, DEFAULT_UPSTREAM: undefined }
  })
  const res = await app.inject({ url: '/token/webrtc', headers: KEY })
  t.equal(res.json().upstream, 'bandwidth')
  const disabled = await app.inject({ url: '/token/webrtc?upstream=global', headers: KEY })
  t.equal(disabled.statusCode, 400)
  t.equal(disabled.json().code, 'UNKNOWN_UPSTREAM')
  t.match(disabled.json().message, /enabled upstreams: bandwidth$/)
})

t.test('400 for an unknown upstream lists the enabled ones', async (t) => {
  const { app, provider } = await build(t)
  const res = await app.inject({ url: '/token/webrtc?upstream=nope', headers: KEY })
  t.equal(res.statusCode, 400)
  assertErrorShape(t, res.json(), 400)
  t.equal(res.json().code, 'UNKNOWN_UPSTREAM')
  t.match(res.json().message, /bandwidth, global/)
  t.equal(res.headers['cache-control'], 'no-store')
  for (const value of ['', 'x'.repeat(65), 'BANDWIDTH']) {
    const odd = await app.inject({ url: `/token/webrtc?upstream=${value}`, headers: KEY })
    t.equal(odd.json().code, 'UNKNOWN_UPSTREAM', `${JSON.stringify(value.slice(0, 10))}: unknown too`)
  }
  t.equal(provider.calls.global, 1, 'only the prewarm reached the provider')
})

t.test('400 for any other query parameter: credentials never travel in the URL', async (t) => {
  const { app, logs } = await build(t)
  const res = await app.inject({ url: `/token/webrtc?api_key=${OTHER_KEY}`, headers: KEY })
  t.equal(res.statusCode, 400)
  assertErrorShape(t, res.json(), 400)
  t.notMatch(logs.join('\n'), OTHER_KEY, 'the query value is masked in the request log')
})

t.test('401 for missing, unknown, malformed or ambiguous credentials', async (t) => {
  const { app } = await build(t)
  const cases: Array<[string, Record<string, string>]> = [
    ['no credentials', {}],
    ['unknown key', { 'x-api-key': 'x'.repeat(40) }],
    ['empty key', { 'x-api-key': '' }],
    ['key in Authorization as Basic', { authorization: `Basic ${Buffer.from(API_KEY).toString('base64')}` }],
    ['Bearer without JWT auth configured', { authorization: 'Bearer a.b.c' }],
    ['Bearer with nothing after it', { authorization: 'Bearer ' }],
    ['both headers', { 'x-api-key': API_KEY, authorization: 'Bearer a.b.c' }]
  ]
  for (const [name, headers] of cases) {
    const res = await app.inject({ url: '/token/webrtc', headers })
    t.equal(res.statusCode, 401, name)
    t.equal(res.headers['www-authenticate'], 'Bearer', name)
    t.equal(res.headers['cache-control'], 'no-store', name)
    assertErrorShape(t, res.json(), 401)
  }
})

t.test('401 comes before 400: an unauthenticated caller learns nothing about upstreams', async (t) => {
  const { app } = await build(t)
  const res = await app.inject({ url: '/token/webrtc?upstream=nope' })
  t.equal(res.statusCode, 401)
})

t.test('both API keys of API_KEYS work, each as its own identity', async (t) => {
  const { app } = await build(t, { env: { RATE_LIMIT_MAX: '1' } })
  t.equal((await app.inject({ url: '/token/webrtc', headers: KEY })).statusCode, 200)
  t.equal((await app.inject({ url: '/token/webrtc', headers: { 'x-api-key': OTHER_KEY } })).statusCode, 200)
})

t.test('429 per caller identity, with Retry-After', async (t) => {
  const { app } = await build(t, { env: { RATE_LIMIT_MAX: '2', RATE_LIMIT_WINDOW_MS: '60000' } })
  for (let i = 0; i < 2; i++) {
    const ok = await app.inject({ url: '/token/webrtc', headers: KEY })
    t.equal(ok.statusCode, 200)
    t.notOk(ok.headers['x-ratelimit-remaining'], 'no X-RateLimit-* headers on a success')
  }
  const limited = await app.inject({ url: '/token/webrtc', headers: KEY })
  t.equal(limited.statusCode, 429)
  assertErrorShape(t, limited.json(), 429)
  t.equal(limited.json().code, 'RATE_LIMITED')
  t.ok(Number(limited.headers['retry-after']) >= 1 && Number(limited.headers['retry-after']) <= 60)
  t.equal(limited.headers['cache-control'], 'no-store')
  t.equal(limited.headers['x-ratelimit-limit'], '2', 'the X-RateLimit-* headers come with a 429')
  t.equal(limited.headers['x-ratelimit-remaining'], '0')
  const other = await app.inject({ url: '/token/webrtc', headers: { 'x-api-key': OTHER_KEY } })
  t.equal(other.statusCode, 200, 'another identity has its own budget')
})

t.test('failed authentication is limited per IP, so guessing keys is slow', async (t) => {
  const { app } = await build(t, { env: { RATE_LIMIT_MAX: '3' } })
  for (let i = 0; i < 3; i++) {
    t.equal((await app.inject({ url: '/token/webrtc', headers: { 'x-api-key': `guess-${i}`.padEnd(40, 'x') } })).statusCode, 401)
  }
  const res = await app.inject({ url: '/token/webrtc', headers: { 'x-api-key': API_KEY.replace('t', 'T') } })
  t.equal(res.statusCode, 429, 'the guesser is throttled')
  t.ok(Number(res.headers['retry-after']) >= 1)
  const fromElsewhere = await app.inject({ url: '/token/webrtc', headers: KEY, remoteAddress: '10.9.8.7' })
  t.equal(fromElsewhere.statusCode, 200, 'a valid caller is not locked out by someone else guessing')
})

t.test('502 when the provider rejects our client credentials', async (t) => {
  const { app, provider, logs } = await build(t, { noReady: true })
  provider.respond(() => new Response(JSON.stringify({ error: 'invalid_client', error_description: 'bad secret' }), {
    status: 401, headers: { 'content-type': 'application/json' }
  }))
  await app.ready()
  const res = await app.inject({ url: '/token/webrtc', headers: KEY })
  t.equal(res.statusCode, 502)
  assertErrorShape(t, res.json(), 502)
  t.equal(res.json().code, 'UPSTREAM_CREDENTIALS_REJECTED')
  t.notMatch(res.body, /bad secret/, 'no upstream body in the reply')
  t.match(logs.join('\n'), /GLOBAL_WEBRTC_CLIENT_SECRET/, 'the log says what to fix')
})

t.test('503 with Retry-After when the provider is failing and no token is cached', async (t) => {
  const { app, provider } = await build(t, { noReady: true })
  provider.respond(() => new Response('<html>down for maintenance</html>', {
    status: 503, headers: { 'content-type': 'text/html', 'retry-after': '7' }
  }))
  await app.ready()
  const res = await app.inject({ url: '/token/webrtc', headers: KEY })
  t.equal(res.statusCode, 503)
  assertErrorShape(t, res.json(), 503)
  t.equal(res.json().code, 'UPSTREAM_UNAVAILABLE')
  t.ok(Number(res.headers['retry-after']) >= 1 && Number(res.headers['retry-after']) <= 7, `retry-after ${String(res.headers['retry-after'])}`)
  t.notMatch(res.body, /maintenance/)
  const calls = provider.calls.global
  await app.inject({ url: '/token/webrtc', headers: KEY })
  t.equal(provider.calls.global, calls, 'a remembered failure does not reach the provider again')
})

t.test('concurrent cold requests cause exactly one provider request', async (t) => {
  const provider = fakeProvider()
  let release!: () => void
  const gate = new Promise<void>((resolve) => { release = resolve })
  const gated = (async (input: string | URL | Request, init?: RequestInit) => {
    await gate
    return await provider.fetch(input, init)
  }) as typeof fetch
  const { app } = await build(t, { provider: { ...provider, fetch: gated }, env: { RATE_LIMIT_MAX: '1000' } })
  const replies = Array.from({ length: 200 }, async () => await app.inject({ url: '/token/webrtc?upstream=bandwidth', headers: KEY }))
  release()
  const all = await Promise.all(replies)
  t.ok(all.every((r) => r.statusCode === 200))
  t.equal(new Set(all.map((r) => r.json().access_token)).size, 1, 'one token for all')
  t.equal(provider.calls.bandwidth, 1, 'exactly one provider request (the prewarm, joined by all callers)')
})
