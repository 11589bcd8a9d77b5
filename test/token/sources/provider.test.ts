// ProviderSource (src/token/sources/provider.ts): one provider request per fetch, byte-exact on
// the wire, strict response checks, failure classes, Retry-After in ms (capped at 60 s), the
// timeout and outside aborts on the injected clock, detaching from the caller's signal, the
// 'fetched' event, and its options and defaults.
import { getEventListeners } from 'node:events'
import t from 'tap'
import type { UpstreamConfig } from '../../../src/config/types.js'
import { Secret } from '../../../src/lib/secret.js'
import { MAX_EXPIRES_IN_SECONDS } from '../../../src/lib/values.js'
import { RETRY_AFTER_CAP_MS } from '../../../src/token/backoff.js'
import { MAX_BODY_BYTES, ProviderSource, basicAuthorization, tokenRequestBody } from '../../../src/token/sources/provider.js'
import { UpstreamFetchError, type FetchOutcome } from '../../../src/token/types.js'
import { FakeClock, settle } from '../../helpers/fake-clock.js'
import { deferred, hang, jsonResponse, scriptedProvider, tokenResponse, type Handler } from '../../helpers/fake-provider.js'
import { rejection } from '../../helpers/rejection.js'

const SECRET = 'correct-horse-battery-staple'
const URL_ = 'https://id.example.test/api/v1/oauth2/token'

function config (over: Partial<UpstreamConfig> = {}): UpstreamConfig {
  return { id: 'bandwidth', tokenUrl: new URL(URL_), clientId: 'jdoe', clientSecret: new Secret(SECRET), scope: undefined, expiryMarginSeconds: 10, ...over }
}

function setup (handler: Handler, over: { upstream?: Partial<UpstreamConfig>, timeoutMs?: number } = {}) {
  const clock = new FakeClock()
  const fake = scriptedProvider(handler)
  const upstream = config(over.upstream)
  const provider = new ProviderSource({ upstream: () => upstream, timeoutMs: over.timeoutMs ?? 5000, fetch: fake.fetch, clock })
  const fetched: Array<[FetchOutcome, number]> = []
  provider.on('fetched', (outcome, durationMs) => { fetched.push([outcome, durationMs]) })
  const run = async (signal: AbortSignal = new AbortController().signal) => await provider.fetch(undefined, signal)
  return { clock, requests: fake.requests, provider, fetched, run }
}

const failure = async (p: Promise<unknown>): Promise<UpstreamFetchError> => await rejection(p, UpstreamFetchError)

t.test('Basic header: the provider\'s documented vectors, raw strings, no form-encoding', async (t) => {
  t.equal(basicAuthorization('jdoe', new Secret('correct-horse-battery-staple')), 'Basic amRvZTpjb3JyZWN0LWhvcnNlLWJhdHRlcnktc3RhcGxl')
  t.equal(basicAuthorization('hgranger', new Secret('Cr00k$h@nk$')), 'Basic aGdyYW5nZXI6Q3IwMGskaEBuayQ=')
  t.equal(basicAuthorization('ü', new Secret('é:x')), 'Basic ' + Buffer.from('ü:é:x', 'utf8').toString('base64'))
})

t.test('body: grant_type only, or with a percent-encoded scope', async (t) => {
  t.equal(tokenRequestBody(undefined), 'grant_type=client_credentials')
  t.equal(tokenRequestBody(''), 'grant_type=client_credentials')
  t.equal(tokenRequestBody('voice.webrtc'), 'grant_type=client_credentials&scope=voice.webrtc')
  t.equal(tokenRequestBody('a b&c=d'), 'grant_type=client_credentials&scope=a+b%26c%3Dd')
})

t.test('the request on the wire', async (t) => {
  for (const [clientId, secret, header] of [
    ['jdoe', 'correct-horse-battery-staple', 'Basic amRvZTpjb3JyZWN0LWhvcnNlLWJhdHRlcnktc3RhcGxl'],
    ['hgranger', 'Cr00k$h@nk$', 'Basic aGdyYW5nZXI6Q3IwMGskaEBuayQ=']
  ] as const) {
    const { requests, run } = setup(() => tokenResponse(), { upstream: { clientId, clientSecret: new Secret(secret), scope: 'voice.webrtc' } })
    await run()
    t.equal(requests.length, 1)
    const req = requests[0]!
    t.equal(req.url, URL_)
    t.equal(req.method, 'POST')
    t.equal(req.redirect, 'manual')
    t.same([...req.headers.entries()].sort(), [
      ['accept', 'application/json'],
      ['authorization', header],
      ['content-type', 'application/x-www-form-urlencoded']
    ])
    t.equal(req.body, 'grant_type=client_credentials&scope=voice.webrtc')
  }
  const { requests, run } = setup(() => tokenResponse())
  await run()
  t.equal(requests[0]!.body, 'grant_type=client_credentials')
})

t.test('the upstream settings are read at each request, so reloaded credentials apply to the next', async (t) => {
  const { fetch, requests } = scriptedProvider(() => tokenResponse())
  let current = config()
  const provider = new ProviderSource({ upstream: () => current, timeoutMs: 5000, fetch, clock: new FakeClock() })
  const signal = new AbortController().signal
  await provider.fetch(undefined, signal)
  current = config({ clientId: 'hgranger', clientSecret: new Secret('Cr00k$h@nk$'), tokenUrl: new URL('https://other.example.test/token'), scope: 's' })
  // `last` is a store's business; the provider always asks.
  await provider.fetch({ accessToken: new Secret('held'), tokenType: 'Bearer', tokenId: undefined, expiresInSeconds: 3600, expiresAtMonotonic: Infinity }, signal)
  t.equal(requests.length, 2)
  t.same(requests.map((r) => r.headers.get('authorization')), ['Basic amRvZTpjb3JyZWN0LWhvcnNlLWJhdHRlcnktc3RhcGxl', 'Basic aGdyYW5nZXI6Q3IwMGskaEBuayQ='])
  t.same(requests.map((r) => r.url), [URL_, 'https://other.example.test/token'])
  t.same(requests.map((r) => r.body), ['grant_type=client_credentials', 'grant_type=client_credentials&scope=s'])
})

t.test('success: fields, expiry from the clock read before sending, timer cleared', async (t) => {
  const answer = deferred<Response>()
  const { clock, run, fetched } = setup(async () => await answer.promise)
  const started = clock.monotonic()
  const p = run()
  clock.advance(4000)
  answer.resolve(tokenResponse({ access_token: 'abc', token_type: 'bearer', expires_in: 600, access_token_id: 'id-7' }, { 'content-type': 'application/json; charset=UTF-8' }))
  const token = await p
  t.equal(token.accessToken.reveal(), 'abc')
  t.ok(token.accessToken instanceof Secret)
  t.equal(token.tokenType, 'Bearer')
  t.equal(token.tokenId, 'id-7')
  t.equal(token.expiresInSeconds, 600)
  t.equal(token.expiresAtMonotonic, started + 600_000)
  t.equal(clock.pendingTimers(), 0)
  t.same(fetched, [['success', 4000]], '\'fetched\' once, with the duration on the injected clock')
})

t.test('token_type any case; access_token_id optional and dropped when odd; margin + 1 s accepted', async (t) => {
  for (const [fields, tokenId] of [
    [{ token_type: 'BEARER' }, undefined],
    [{ access_token_id: 42 }, undefined],
    [{ access_token_id: '' }, undefined],
    [{ access_token_id: 'x'.repeat(257) }, undefined],
    [{ access_token_id: 'x'.repeat(256) }, 'x'.repeat(256)],
    [{ extra: { nested: true } }, undefined]
  ] as const) {
    const token = await setup(() => tokenResponse(fields)).run()
    t.equal(token.tokenId, tokenId, JSON.stringify(fields).slice(0, 40))
  }
  const atMargin = await setup(() => tokenResponse({ expires_in: 11 })).run()
  t.equal(atMargin.expiresInSeconds, 11, 'margin + 1 s is accepted')
  const aDay = await setup(() => tokenResponse({ expires_in: MAX_EXPIRES_IN_SECONDS })).run()
  t.equal(aDay.expiresInSeconds, 86_400, 'a day is accepted')
  const global = await setup(() => tokenResponse({ expires_in: 31 }), { upstream: { expiryMarginSeconds: 30 } }).run()
  t.equal(global.expiresInSeconds, 31, 'the margin is the upstream\'s')
})

t.test('every malformed success is a bad_response whose message holds nothing from the body', async (t) => {
  const MARK = 'SECRET-BODY-MARKER'
  const json = { 'content-type': 'application/json' }
  const cases: Array<[string, () => Response]> = [
    ['HTML', () => new Response(`<html>${MARK}</html>`, { status: 200, headers: { 'content-type': 'text/html' } })],
    ['no content type', () => new Response(JSON.stringify({ access_token: MARK }), { status: 200, headers: { 'content-type': '' } })],
    ['problem+json', () => new Response(JSON.stringify({ access_token: MARK }), { status: 200, headers: { 'content-type': 'application/problem+json' } })],
    ['non-JSON', () => new Response(`not json ${MARK}`, { status: 200, headers: json })],
    ['garbage bytes', () => new Response(new Uint8Array([0xff, 0xfe, 0x7b, 0x7d]), { status: 200, headers: json })],
    ['empty body', () => new Response(null, { status: 200, headers: json })],
    ['JSON array', () => new Response(`["${MARK}"]`, { status: 200, headers: json })],
    ['JSON null', () => new Response('null', { status: 200, headers: json })],
    ['JSON string', () => new Response(`"${MARK}"`, { status: 200, headers: json })],
    ['too large', () => new Response(JSON.stringify({ access_token: MARK, pad: 'x'.repeat(MAX_BODY_BYTES) }), { status: 200, headers: json })],
    ['access_token missing', () => tokenResponse({ access_token: undefined, note: MARK })],
    ['access_token empty', () => tokenResponse({ access_token: '' })],
    ['access_token number', () => tokenResponse({ access_token: 12345 })],
    ['token_type missing', () => tokenResponse({ token_type: undefined, access_token: MARK })],
    ['token_type MAC', () => tokenResponse({ token_type: 'mac', access_token: MARK })],
    ['token_type number', () => tokenResponse({ token_type: 1 })],
    ['expires_in missing', () => tokenResponse({ expires_in: undefined, access_token: MARK })],
    ['expires_in 0', () => tokenResponse({ expires_in: 0 })],
    ['expires_in negative', () => tokenResponse({ expires_in: -5 })],
    ['expires_in string', () => tokenResponse({ expires_in: '3600' })],
    ['expires_in null', () => tokenResponse({ expires_in: null })],
    ['expires_in over a day', () => tokenResponse({ expires_in: MAX_EXPIRES_IN_SECONDS + 1 })],
    ['expires_in infinite', () => new Response('{"access_token":"a","token_type":"Bearer","expires_in":1e400}', { status: 200, headers: json })],
    ['expires_in equal to the margin', () => tokenResponse({ expires_in: 10 })],
    ['expires_in under margin + 1 s', () => tokenResponse({ expires_in: 10.5 })]
  ]
  for (const [name, respond] of cases) {
    const { run, fetched } = setup(respond)
    const err = await failure(run())
    t.equal(err.errorClass, 'bad_response', name)
    t.equal(err.status, 200, name)
    t.notMatch(err.message, MARK, name)
    t.notMatch(err.message, SECRET, name)
    t.same(fetched, [['bad_response', 0]], name)
  }
})

t.test('status classification and Retry-After in milliseconds', async (t) => {
  const html = (status: number, headers: Record<string, string> = {}) => () =>
    new Response('<h1>oops</h1>', { status, headers: { 'content-type': 'text/html', ...headers } })
  const cases: Array<[string, () => Response, string, number | undefined]> = [
    ['401 anything', html(401), 'credentials_rejected', undefined],
    ['401 JSON', () => jsonResponse(401, { error: 'invalid_token' }), 'credentials_rejected', undefined],
    ['401 with Retry-After', html(401, { 'retry-after': '30' }), 'credentials_rejected', undefined],
    ['400 invalid_client', () => jsonResponse(400, { error: 'invalid_client' }), 'credentials_rejected', undefined],
    ['400 invalid_grant charset', () => jsonResponse(400, { error: 'invalid_grant' }, { 'content-type': 'application/json;charset=utf-8' }), 'credentials_rejected', undefined],
    ['400 invalid_scope', () => jsonResponse(400, { error: 'invalid_scope' }), 'client_error', undefined],
    ['400 error not a string', () => jsonResponse(400, { error: 7 }), 'client_error', undefined],
    ['400 JSON array', () => jsonResponse(400, ['invalid_client']), 'client_error', undefined],
    ['400 broken JSON', () => new Response('{', { status: 400, headers: { 'content-type': 'application/json' } }), 'client_error', undefined],
    ['400 HTML', html(400), 'client_error', undefined],
    ['403', html(403), 'client_error', undefined],
    ['404', html(404), 'client_error', undefined],
    ['429 no Retry-After', html(429), 'throttled', undefined],
    ['429 seconds', html(429, { 'retry-after': '30' }), 'throttled', 30_000],
    ['429 decimal seconds', html(429, { 'retry-after': '7.5' }), 'throttled', 7500],
    ['429 HTTP-date', html(429, { 'retry-after': 'Thu, 01 Jan 2026 00:01:00 GMT' }), 'throttled', 60_000],
    ['429 past HTTP-date', html(429, { 'retry-after': 'Wed, 31 Dec 2025 23:00:00 GMT' }), 'throttled', 0],
    ['429 huge seconds capped', html(429, { 'retry-after': '999999' }), 'throttled', RETRY_AFTER_CAP_MS],
    ['503 far HTTP-date capped', html(503, { 'retry-after': 'Fri, 01 Jan 2027 00:00:00 GMT' }), 'server_error', RETRY_AFTER_CAP_MS],
    ['503 seconds', html(503, { 'retry-after': '12' }), 'server_error', 12_000],
    ['503 garbage Retry-After', html(503, { 'retry-after': 'later' }), 'server_error', undefined],
    ['503 negative Retry-After', html(503, { 'retry-after': '-3' }), 'server_error', undefined],
    ['500 Retry-After ignored', html(500, { 'retry-after': '12' }), 'server_error', undefined],
    ['502', html(502), 'server_error', undefined],
    ['302 redirect', () => new Response(null, { status: 302, headers: { location: 'https://evil.example/' } }), 'bad_response', undefined],
    ['204 no content', () => new Response(null, { status: 204 }), 'bad_response', undefined]
  ]
  for (const [name, respond, errorClass, retryAfterMs] of cases) {
    const { run, fetched } = setup(respond)
    const err = await failure(run())
    t.equal(err.errorClass, errorClass, name)
    t.equal(err.retryAfterMs, retryAfterMs, `${name} retry-after`)
    t.type(err.status, 'number', name)
    t.notMatch(err.message, 'oops', name)
    t.same(fetched.map(([outcome]) => outcome), [errorClass], `${name}: reported once`)
  }
  t.equal(RETRY_AFTER_CAP_MS, 60_000)
})

t.test('an error body whose cancel fails is still classified', async (t) => {
  const body = new ReadableStream({ cancel () { throw new Error('cancel failed') } })
  const err = await failure(setup(() => new Response(body, { status: 500 })).run())
  t.equal(err.errorClass, 'server_error')
})

t.test('network errors: a system code is kept, the message is not', async (t) => {
  const refused = setup(() => { throw new TypeError('fetch failed', { cause: Object.assign(new Error(`connect to ${SECRET}`), { code: 'ECONNREFUSED' }) }) })
  const withCode = await failure(refused.run())
  t.equal(withCode.errorClass, 'network')
  t.equal(withCode.message, 'request failed (ECONNREFUSED)')
  t.same(refused.fetched, [['network', 0]])
  const oddCode = await failure(setup(() => { throw new TypeError('fetch failed', { cause: { code: 'not a code' } }) }).run())
  t.equal(oddCode.message, 'request failed')
  // eslint-disable-next-line no-throw-literal -- a hostile fetch can throw anything
  const thrownNull = await failure(setup(() => { throw null }).run())
  t.equal(thrownNull.errorClass, 'network')
})

t.test('timeout: the attempt is aborted after timeoutMs on the injected clock', async (t) => {
  const { clock, requests, run, fetched } = setup(hang)
  const p = run()
  await settle()
  t.equal(requests[0]!.signal.aborted, false)
  clock.advance(4999)
  t.equal(requests[0]!.signal.aborted, false)
  clock.advance(1)
  t.equal(requests[0]!.signal.aborted, true)
  const err = await failure(p)
  t.equal(err.errorClass, 'timeout')
  t.equal(err.message, 'no complete response within 5000 ms')
  t.equal(clock.pendingTimers(), 0)
  t.same(fetched, [['timeout', 5000]])
})

t.test('timeout also covers a body that stalls', async (t) => {
  const { clock, run } = setup((req) => {
    const body = new ReadableStream({
      async pull (controller) {
        await new Promise((resolve) => req.signal.addEventListener('abort', resolve))
        controller.error(new DOMException('aborted', 'AbortError'))
      }
    })
    return new Response(body, { status: 200, headers: { 'content-type': 'application/json' } })
  })
  const p = run()
  await settle()
  clock.advance(5000)
  t.equal((await failure(p)).errorClass, 'timeout')
})

t.test('an outside abort (shutdown) aborts the request and is not a timeout', async (t) => {
  const outside = new AbortController()
  const { requests, run, clock, fetched } = setup(hang)
  const p = run(outside.signal)
  await settle()
  outside.abort()
  t.equal(requests[0]!.signal.aborted, true)
  const err = await failure(p)
  t.equal(err.errorClass, 'network')
  t.equal(err.message, 'request aborted')
  t.equal(clock.pendingTimers(), 0)
  t.same(fetched, [['network', 0]])

  const already = new AbortController()
  already.abort()
  const second = setup(hang)
  t.equal((await failure(second.run(already.signal))).message, 'request aborted')
  t.equal(second.requests[0]!.signal.aborted, true)
})

t.test('a finished request detaches from the outside signal: aborting it afterwards changes nothing', async (t) => {
  for (const [name, handler] of [
    ['success', () => tokenResponse()],
    ['failure', () => new Response('', { status: 503 })]
  ] as const) {
    const outside = new AbortController()
    const { requests, run, fetched } = setup(handler)
    await run(outside.signal).catch(() => undefined)
    t.same(getEventListeners(outside.signal, 'abort'), [], `${name}: no listener left on the caller's signal`)
    outside.abort()
    t.equal(requests[0]!.signal.aborted, false, `${name}: the finished request is not aborted afterwards`)
    t.equal(fetched.length, 1, `${name}: nothing more reported`)
  }
})

t.test('settings that cannot be read fail the fetch before any request, so no request is reported', async (t) => {
  const { fetch, requests } = scriptedProvider(() => tokenResponse())
  const provider = new ProviderSource({ upstream: () => { throw new Error('no such upstream') }, timeoutMs: 5000, fetch, clock: new FakeClock() })
  const fetched: FetchOutcome[] = []
  provider.on('fetched', (outcome) => { fetched.push(outcome) })
  await t.rejects(provider.fetch(undefined, new AbortController().signal), { message: 'no such upstream' })
  t.equal(requests.length, 0)
  t.same(fetched, [])
})

t.test('credentials refused: retried at once only when those in force differ from those sent', async (t) => {
  const OLD = config()
  const NEW = config({ clientSecret: new Secret('Cr00k$h@nk$') })
  const cases: Array<[string, (set: (u: UpstreamConfig) => void) => void, () => void, number]> = [
    // The re-read finds a rotated file.
    ['changed by the re-read', () => {}, () => { current = NEW }, 2],
    // A poll took the new file while the request was in flight: the re-read finds nothing new.
    ['changed while in flight', (set) => { set(NEW) }, () => {}, 2],
    ['the same credentials', () => {}, () => {}, 1],
    ['the same values, as a new object', () => {}, () => { current = config() }, 1]
  ]
  let current = OLD
  for (const [name, duringRequest, onRecheck, expected] of cases) {
    current = OLD
    const { fetch, requests } = scriptedProvider((req, index) => {
      if (index === 0) {
        duringRequest((u) => { current = u })
        return jsonResponse(400, { error: 'invalid_client' })
      }
      return req.headers.get('authorization') === basicAuthorization(NEW.clientId, NEW.clientSecret) ? tokenResponse() : jsonResponse(400, { error: 'invalid_client' })
    })
    let rechecks = 0
    const provider = new ProviderSource({ upstream: () => current, timeoutMs: 5000, fetch, clock: new FakeClock(), recheckCredentials: async () => { rechecks++; onRecheck() } })
    const result = provider.fetch(undefined, new AbortController().signal)
    if (expected === 2) t.type((await result).accessToken, Secret, `${name}: a token`)
    else t.equal((await failure(result)).errorClass, 'credentials_rejected', `${name}: refused`)
    t.equal(requests.length, expected, `${name}: requests`)
    t.equal(rechecks, 1, `${name}: re-read once`)
  }
})

t.test('constructor rejects a timeout that is not positive', async (t) => {
  for (const timeoutMs of [0, -1, Number.NaN]) {
    t.throws(() => new ProviderSource({ upstream: () => config(), timeoutMs }), RangeError, `timeoutMs ${timeoutMs}`)
  }
})

t.test('defaults: globalThis.fetch and systemClock', async (t) => {
  const realFetch = globalThis.fetch
  t.teardown(() => { globalThis.fetch = realFetch })
  const { fetch, requests } = scriptedProvider(() => tokenResponse({ access_token: 'default-path' }))
  globalThis.fetch = fetch
  const provider = new ProviderSource({ upstream: () => config(), timeoutMs: 5000 })
  const before = performance.now()
  const token = await provider.fetch(undefined, new AbortController().signal)
  const after = performance.now()
  t.equal(token.accessToken.reveal(), 'default-path')
  t.equal(requests.length, 1)
  t.ok(token.expiresAtMonotonic >= before + 3_600_000 && token.expiresAtMonotonic <= after + 3_600_000, 'expiry on performance.now()')
})

t.test('a throwing \'fetched\' listener does not turn a good token into a failure', async (t) => {
  const { provider, run } = setup(() => tokenResponse({ access_token: 'tok-1' }))
  provider.on('fetched', () => { throw new Error('a broken metrics listener') })
  t.equal((await run()).accessToken.reveal(), 'tok-1')
})
