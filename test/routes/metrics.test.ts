// GET /metrics: the Prometheus text exposition. Names, HELP/TYPE lines and types follow the
// Prometheus conventions; every label is bounded (upstream ids or 'unknown', fixed outcomes, `le`),
// so no identity, key, token, JWT subject or raw path ever becomes a label; the expiry gauge
// tracks the cached token; no auth is needed.
import t from 'tap'
import { API_KEY, OTHER_KEY, build } from '../helpers/build.js'
import { FakeClock } from '../helpers/fake-clock.js'
import { fakeProvider } from '../helpers/fake-provider.js'
import { createTestJwks } from '../helpers/jwks.js'
import { sample } from '../helpers/output.js'

const OURS: Record<string, string> = {
  token_requests_total: 'counter',
  upstream_fetches_total: 'counter',
  upstream_fetch_duration_seconds: 'histogram',
  upstream_token_expiry_seconds: 'gauge'
}

interface Sample { name: string, labels: Record<string, string>, value: number }

/** Parses the sample lines of an exposition (label values here never contain quotes or commas). */
function samples (text: string): Sample[] {
  return text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((line) => {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (m === null) throw new Error(`not a sample line: ${line}`)
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"/g)].map((l) => [l[1], l[2]]))
    return { name: m[1] as string, labels, value: Number(m[3]) }
  })
}

const family = (name: string): string => name.replace(/_(bucket|sum|count)$/, '')

t.test('the exposition: format, HELP and TYPE, naming conventions, default metrics, no auth', async (t) => {
  const { app } = await build(t)
  await app.inject({ url: '/token/webrtc', headers: { 'x-api-key': API_KEY } })
  const res = await app.inject({ url: '/metrics' })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8')
  t.equal(res.headers['cache-control'], 'no-store')
  const text = res.body
  for (const [name, type] of Object.entries(OURS)) {
    t.match(text, new RegExp(`^# HELP ${name} \\S.+$`, 'm'), `${name} has HELP`)
    t.match(text, new RegExp(`^# TYPE ${name} ${type}$`, 'm'), `${name} is a ${type}`)
  }
  const types = Object.fromEntries([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]))
  for (const [name, type] of Object.entries(types)) {
    t.match(name, /^[a-z_:][a-z0-9_:]*$/, `${name}: snake_case`)
    if (type === 'counter') t.match(name, /_total$/, `${name}: a counter ends in _total`)
    if (/seconds|bytes/.test(name)) t.match(name, /_(seconds|bytes)(_total)?$|_(seconds|bytes)_[a-z]+$/, `${name}: base unit suffix`)
  }
  for (const s of samples(text)) t.ok(family(s.name) in types, `${s.name} belongs to a declared family`)
  for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_p99_seconds', 'nodejs_heap_size_used_bytes']) {
    t.ok(name in types, `default metric ${name}`)
  }
  const buckets = samples(text).filter((s) => s.name === 'upstream_fetch_duration_seconds_bucket' && s.labels.upstream === 'global')
  t.equal(buckets.at(-1)?.labels.le, '+Inf')
  t.equal(buckets.at(-1)?.value, sample(text, 'upstream_fetch_duration_seconds_count{upstream="global"}'))
})

t.test('labels stay bounded whatever callers send; nothing identifying or secret in the exposition', async (t) => {
  const idp = await createTestJwks()
  t.teardown(async () => { await idp.close() })
  const provider = fakeProvider()
  const { app } = await build(t, {
    provider,
    env: { AUTH_JWKS_URL: idp.jwksUrl.href, AUTH_ISSUER: idp.issuer, AUTH_AUDIENCE: idp.audience, RATE_LIMIT_MAX: '20' },
    auth: { customFetch: idp.fetch }
  })
  const jwt = await idp.sign({ sub: 'sub-alice-7f3c' })
  const junk = ['x'.repeat(200), 'sub-alice-7f3c', '../../etc/passwd', '%F0%9F%94%91', API_KEY, 'global ', 'Bandwidth']
  const go = async (url: string, headers: Record<string, string> = {}): Promise<void> => {
    await app.inject({ url, headers })
  }
  await go('/token/webrtc', { authorization: `Bearer ${jwt}` })
  await go('/token/webrtc?upstream=bandwidth', { 'x-api-key': OTHER_KEY })
  for (const value of junk) await go(`/token/webrtc?upstream=${encodeURIComponent(value)}`, { 'x-api-key': API_KEY })
  await go(`/token/webrtc?api_key=${API_KEY}`, { 'x-api-key': API_KEY })
  await go(`/token/${API_KEY}`)
  await go('/token/webrtc', { 'x-api-key': 'not-a-key' })
  // 'mobile' has used 1 of its 20: 19 more are served, then 6 are rate limited.
  for (let i = 0; i < 25; i++) await go('/token/webrtc', { 'x-api-key': OTHER_KEY })

  const text = (await app.inject({ url: '/metrics' })).body
  const ours = samples(text).filter((s) => family(s.name) in OURS)
  for (const s of ours) {
    t.ok(Object.keys(s.labels).every((k) => ['upstream', 'outcome', 'le'].includes(k)), `${s.name} label names ${Object.keys(s.labels).join(',')}`)
    t.ok(['bandwidth', 'global', 'unknown'].includes(s.labels.upstream as string), `${s.name} upstream=${s.labels.upstream}`)
  }
  const tokenSeries = ours.filter((s) => s.name === 'token_requests_total')
  t.ok(tokenSeries.length <= 3 * 7, `${tokenSeries.length} token_requests_total series`)
  t.same(new Set(tokenSeries.map((s) => s.labels.outcome)), new Set(['served', 'unauthorized', 'rate_limited', 'bad_request', 'unavailable', 'credentials_rejected', 'error']))
  t.equal(sample(text, 'token_requests_total{upstream="global",outcome="served"}'), 20)
  t.equal(sample(text, 'token_requests_total{upstream="bandwidth",outcome="served"}'), 1)
  t.equal(sample(text, 'token_requests_total{upstream="unknown",outcome="bad_request"}'), junk.length, 'every junk upstream folded into "unknown"')
  t.equal(sample(text, 'token_requests_total{upstream="global",outcome="bad_request"}'), 1, 'the credential in the query string')
  t.equal(sample(text, 'token_requests_total{upstream="global",outcome="rate_limited"}'), 6)
  t.equal(sample(text, 'token_requests_total{upstream="global",outcome="unauthorized"}'), 1)
  for (const needle of [API_KEY, OTHER_KEY, jwt, 'sub-alice-7f3c', 'passwd', 'not-a-key', '"web"', '"mobile"', ...provider.issued]) {
    t.notOk(text.includes(needle), `not in the exposition: ${needle.slice(0, 12)}`)
  }
})

t.test('upstream_token_expiry_seconds counts down with the cached token, 0 when none', async (t) => {
  const clock = new FakeClock()
  const provider = fakeProvider()
  const { app } = await build(t, { provider, tokens: { clock } })
  await app.inject({ url: '/token/webrtc', headers: { 'x-api-key': API_KEY } })
  const read = async (): Promise<number | undefined> =>
    sample((await app.inject({ url: '/metrics' })).body, 'upstream_token_expiry_seconds{upstream="global"}')
  t.equal(await read(), 570, 'global: 600 s minus the 30 s margin')
  clock.advance(100_000)
  t.equal(await read(), 470)
  provider.respond(() => new Response('down', { status: 503 }))
  clock.advance(471_000) // refresh failed, retries failing, token past its margin
  t.equal(await read(), 0)
})

t.test('a failing registry is a 500 with the error body, nothing else', async (t) => {
  const { app } = await build(t)
  app.metrics.registry.metrics = async () => { throw new Error('collector exploded: secret-ish detail') }
  const res = await app.inject({ url: '/metrics' })
  t.equal(res.statusCode, 500)
  t.same(res.json(), { statusCode: 500, code: 'INTERNAL', error: 'Internal Server Error', message: 'Internal Server Error' })
})

t.test('METRICS_PORT moves /metrics off the API: 404 there, and out of its OpenAPI document', async (t) => {
  const { app } = await build(t, { env: { METRICS_PORT: '9464' } })
  const onApi = await app.inject({ url: '/metrics' })
  t.equal(onApi.statusCode, 404)
  t.equal(onApi.json().code, 'NOT_FOUND')
  const paths = Object.keys((await app.inject({ url: '/openapi.json' })).json().paths as Record<string, unknown>)
  t.notOk(paths.includes('/metrics'), 'not documented on the API port')
  t.ok(paths.includes('/token/webrtc'))
})
