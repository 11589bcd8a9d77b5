// Fault injection and the programmatic controls of the emulator: every fault kind as a client
// sees it on the wire, clearing and reset, credentials and lifetimes, listen/close behaviour
// (close() must end at once even with a request hanging).
import t from 'tap'
import { baseUrl, createUpstreamEmulator } from '../../emulator/upstream-emulator.js'
import type { Fault } from '../../emulator/upstream-emulator.js'
import { CREDS, basic, requestToken, startEmulator } from '../helpers/emulator.js'
import { eventually } from '../helpers/eventually.js'

t.test('status faults: the status, Retry-After, an OAuth error body by default', async (t) => {
  const emu = await startEmulator(t)
  const cases: Array<[number, string | undefined, string]> = [
    [500, undefined, 'server_error'],
    [502, undefined, 'server_error'],
    [503, '7', 'temporarily_unavailable'],
    [429, 'Wed, 21 Oct 2026 07:28:00 GMT', 'too_many_requests'],
    [400, undefined, 'invalid_request'],
    [401, undefined, 'invalid_client']
  ]
  for (const [status, retryAfter, error] of cases) {
    emu.setFault('global', retryAfter === undefined ? { kind: 'status', status } : { kind: 'status', status, retryAfter })
    const res = await requestToken(emu, 'global')
    t.equal(res.status, status)
    t.equal(res.headers.get('retry-after'), retryAfter ?? null, `${status} Retry-After`)
    t.equal(res.headers.get('content-type'), 'application/json;charset=UTF-8')
    t.equal(res.headers.get('www-authenticate') !== null, status === 401, `${status} challenge`)
    t.match(await res.json(), { error, error_description: String })
  }
  t.same(emu.issuedTokens(), [])
  t.match(emu.requestLog().at(-1), { fault: 'status', outcome: 401, error: undefined })
  emu.setFault('global', { kind: 'status', status: 503, retryAfter: null })
  const none = await requestToken(emu, 'global')
  t.equal(none.headers.get('retry-after'), null, 'retryAfter: null is accepted and sends none')
  await none.arrayBuffer()
  emu.setFault('global', null)
  t.equal((await requestToken(emu, 'global')).status, 200, 'healed')
  t.equal(emu.requests('global'), cases.length + 2)
})

t.test('status faults with a custom body and content type, with the no-cache headers of every token response', async (t) => {
  const emu = await startEmulator(t)
  /** The headers a token endpoint sends on every response (RFC 6749 5.1), faults included. */
  const noCache = (res: Response, name: string): void => {
    t.equal(res.headers.get('cache-control'), 'no-store', `${name}: Cache-Control`)
    t.equal(res.headers.get('pragma'), 'no-cache', `${name}: Pragma`)
  }
  emu.setFault('bandwidth', { kind: 'status', status: 502, body: '<h1>Bad gateway</h1>', contentType: 'text/html' })
  let res = await requestToken(emu, 'bandwidth')
  t.equal(res.status, 502)
  t.equal(res.headers.get('content-type'), 'text/html')
  noCache(res, 'html body')
  t.equal(await res.text(), '<h1>Bad gateway</h1>')
  emu.setFault('bandwidth', { kind: 'status', status: 400, body: '{"error":"invalid_client"}' })
  res = await requestToken(emu, 'bandwidth')
  t.equal(res.headers.get('content-type'), 'application/json;charset=UTF-8')
  noCache(res, 'JSON body')
  t.same(await res.json(), { error: 'invalid_client' })
  emu.setFault('bandwidth', { kind: 'status', status: 504, contentType: 'text/plain' })
  res = await requestToken(emu, 'bandwidth')
  t.equal(res.status, 504)
  noCache(res, 'empty body')
  t.equal(await res.text(), '')
  emu.setFault('bandwidth', { kind: 'status', status: 503 })
  res = await requestToken(emu, 'bandwidth')
  noCache(res, 'default body')
  await res.arrayBuffer()
})

t.test('faults answer whatever the request, and only for their tenant', async (t) => {
  const emu = await startEmulator(t)
  emu.setFault('bandwidth', { kind: 'status', status: 503 })
  t.equal((await requestToken(emu, 'bandwidth', { authorization: null, body: '' })).status, 503)
  t.equal((await requestToken(emu, 'global')).status, 200)
  t.equal((await requestToken(emu, 'bandwidth', { method: 'GET' })).status, 405, 'a wrong method is still refused first')
})

t.test('html, garbage and json faults: 200 answers that are not a token', async (t) => {
  const emu = await startEmulator(t)
  emu.setFault('global', { kind: 'html' })
  let res = await requestToken(emu, 'global')
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /^text\/html/)
  t.match(await res.text(), /<html>/)

  emu.setFault('global', { kind: 'garbage' })
  res = await requestToken(emu, 'global')
  t.equal(res.status, 200)
  t.equal(res.headers.get('content-type'), 'application/json;charset=UTF-8')
  await t.rejects(res.json(), SyntaxError)

  const bodies: unknown[] = [
    { token_type: 'Bearer', expires_in: 600 },
    { access_token: 'x.y.z', token_type: 'Bearer', expires_in: 0 },
    { access_token: 'x.y.z', token_type: 'Bearer', expires_in: -5 },
    { access_token: 'x.y.z', token_type: 'Bearer', expires_in: 1e9 },
    { access_token: 'x.y.z', token_type: 'Bearer', expires_in: '3600' },
    { access_token: '', token_type: 'bearer', expires_in: 600 },
    [1, 2],
    'a string',
    null
  ]
  for (const body of bodies) {
    emu.setFault('global', { kind: 'json', body })
    res = await requestToken(emu, 'global')
    t.equal(res.status, 200)
    t.equal(res.headers.get('cache-control'), 'no-store')
    t.equal(await res.text(), JSON.stringify(body))
  }
  t.same(emu.issuedTokens(), [], 'fault answers are not issued tokens')
})

t.test('drop fault: the connection is reset, no response', async (t) => {
  const emu = await startEmulator(t)
  emu.setFault('bandwidth', { kind: 'drop' })
  await t.rejects(requestToken(emu, 'bandwidth'), TypeError)
  t.match(emu.requestLog().at(-1), { fault: 'drop', outcome: 'drop' })
  emu.setFault('bandwidth', null)
  t.equal((await requestToken(emu, 'bandwidth')).status, 200, 'the next connection works')
})

t.test('hang fault: no answer; clearing the fault ends the hanging request', async (t) => {
  const emu = await startEmulator(t)
  emu.setFault('global', { kind: 'hang' })
  // The client gives up once the emulator holds the request, however long that took to happen.
  const giveUp = new AbortController()
  const aborted = requestToken(emu, 'global', { signal: giveUp.signal })
  await eventually(() => emu.requests('global') === 1, 'the first request reached the emulator')
  giveUp.abort()
  await t.rejects(aborted, { name: 'AbortError' }, 'the client gives up first')
  const pending = requestToken(emu, 'global')
  await eventually(() => emu.requests('global') === 2, 'the second request reached the emulator')
  t.match(emu.requestLog().at(-1), { fault: 'hang', outcome: 'hang' })
  emu.setFault('global', null)
  await t.rejects(pending, TypeError, 'the hanging connection is destroyed')
  t.equal((await requestToken(emu, 'global')).status, 200)
})

t.test('close() ends promptly with a hanging request in flight; then connections are refused', async (t) => {
  const emu = createUpstreamEmulator()
  await emu.listen()
  const url = emu.tokenUrl('bandwidth')
  emu.setFault('bandwidth', { kind: 'hang' })
  const pending = requestToken(emu, 'bandwidth')
  await eventually(() => emu.requests('bandwidth') === 1, 'the hanging request reached the emulator')
  // close() resolves with the hung request still open (were it to wait, tap's timeout would end the test).
  await emu.close()
  await t.rejects(pending, TypeError, 'the hung request is cut off')
  // "Connection refused" is modelled this way: nothing listens any more.
  await t.rejects(fetch(url, { method: 'POST' }), { cause: { code: 'ECONNREFUSED' } })
  await emu.close()
  t.throws(() => emu.url, /not listening/)
})

t.test('reset(): configuration back, faults cleared, counters, log and tokens emptied', async (t) => {
  const emu = await startEmulator(t)
  emu.setFault('bandwidth', { kind: 'hang' })
  const pending = requestToken(emu, 'bandwidth')
  await requestToken(emu, 'global')
  emu.setExpiresIn('global', 5)
  emu.setCredentials('global', 'new-id', 'new-secret')
  await eventually(() => emu.requests('bandwidth') === 1, 'the hanging request reached the emulator')
  emu.reset()
  await t.rejects(pending, TypeError, 'the hanging request is ended')
  t.same(emu.stats(), {
    requests: { bandwidth: 0, global: 0 },
    issued: { bandwidth: 0, global: 0 },
    faults: { bandwidth: null, global: null },
    expiresIn: { bandwidth: 3600, global: 600 },
    brtc: { requests: 0, operations: { create: 0, list: 0, get: 0, delete: 0 }, created: 0, endpoints: 0, fault: null, endpointLifetime: 86400 }
  })
  t.same(emu.requestLog(), [])
  t.same(emu.issuedTokens(), [])
  t.match(await (await requestToken(emu, 'global')).json(), { expires_in: 600 }, 'original credentials work again')
  t.equal(emu.requestLog()[0]?.seq, 1)
})

t.test('setExpiresIn and setCredentials', async (t) => {
  const emu = await startEmulator(t)
  for (const seconds of [1, 0, -5, 86401]) {
    emu.setExpiresIn('bandwidth', seconds)
    t.match(await (await requestToken(emu, 'bandwidth')).json(), { expires_in: seconds })
  }
  t.same(emu.issuedTokens().map((x) => x.expiresIn), [1, 0, -5, 86401])
  t.throws(() => emu.setExpiresIn('bandwidth', Number.NaN), TypeError)
  t.throws(() => emu.setExpiresIn('bandwidth', '60' as unknown as number), TypeError)

  emu.setCredentials('global', 'jöhn', 'pässwörd€ ✓')
  t.equal((await requestToken(emu, 'global')).status, 401, 'the old credentials no longer work')
  t.equal((await requestToken(emu, 'global', { authorization: basic('jöhn', 'pässwörd€ ✓') })).status, 200, 'UTF-8 credentials')
  const latin1 = `Basic ${Buffer.from('jöhn:pässwörd€ ✓', 'latin1').toString('base64')}`
  t.equal((await requestToken(emu, 'global', { authorization: latin1 })).status, 401, 'not Latin-1')
  t.throws(() => emu.setCredentials('global', 'a:b', 'c'), TypeError)
})

t.test('a second secret is accepted alongside the first, as during a rotation, until removed', async (t) => {
  const emu = await startEmulator(t)
  const old = basic(CREDS.bandwidth.clientId, CREDS.bandwidth.clientSecret)
  const next = basic(CREDS.bandwidth.clientId, 'bw-secret-NEXT-0123456789')
  t.equal((await requestToken(emu, 'bandwidth', { authorization: next })).status, 401, 'not yet')
  emu.setSecondarySecret('bandwidth', 'bw-secret-NEXT-0123456789')
  t.equal((await requestToken(emu, 'bandwidth', { authorization: old })).status, 200, 'the first still works')
  t.equal((await requestToken(emu, 'bandwidth', { authorization: next })).status, 200, 'and so does the second')
  t.equal((await requestToken(emu, 'bandwidth', { authorization: basic('other-id', 'bw-secret-NEXT-0123456789') })).status, 401, 'for that client id only')
  emu.setCredentials('bandwidth', CREDS.bandwidth.clientId, 'bw-secret-NEXT-0123456789')
  emu.setSecondarySecret('bandwidth', null)
  t.equal((await requestToken(emu, 'bandwidth', { authorization: old })).status, 401, 'the old one is revoked')
  t.equal((await requestToken(emu, 'bandwidth', { authorization: next })).status, 200)
})

t.test('fault descriptions are checked', async (t) => {
  const emu = createUpstreamEmulator()
  const bad: unknown[] = [
    undefined, 'hang', [], { kind: 'explode' }, { kind: 'status' }, { kind: 'status', status: 99 },
    { kind: 'status', status: 600 }, { kind: 'status', status: 503.5 }, { kind: 'status', status: '503' },
    { kind: 'status', status: 503, retryAfter: 7 }, { kind: 'status', status: 503, body: {} },
    { kind: 'status', status: 503, contentType: 1 }, { kind: 'json' }, { kind: 'json', body: undefined }
  ]
  for (const fault of bad) t.throws(() => emu.setFault('global', fault as Fault), TypeError, JSON.stringify(fault) ?? 'undefined')
  t.same(emu.stats().faults, { bandwidth: null, global: null })
})

t.test('listen errors and URLs', async (t) => {
  const first = await startEmulator(t)
  const second = createUpstreamEmulator()
  await t.rejects(second.listen({ port: Number(new URL(first.url).port) }), { code: 'EADDRINUSE' })
  await second.close()
  t.equal(baseUrl({ address: '127.0.0.1', port: 8080 }), 'http://127.0.0.1:8080')
  t.equal(baseUrl({ address: '0.0.0.0', port: 8080 }), 'http://127.0.0.1:8080')
  t.equal(baseUrl({ address: '::', port: 8080 }), 'http://[::1]:8080')
  t.equal(baseUrl({ address: '::1', port: 8080 }), 'http://[::1]:8080')
})
