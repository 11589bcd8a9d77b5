// Over a real socket: the app listening on 127.0.0.1, sent raw HTTP/1.1 bytes that inject()
// cannot express. First the requests Node's HTTP layer would answer itself, bare (no Host, an
// `Expect` other than 100-continue, CONNECT): each gets the contract's reply on both listeners.
// Then a fuzz: request targets starting with `//` or `/\`, absolute-form and `*` targets, raw
// non-ASCII bytes, oversized header blocks, malformed header lines and repeated credential
// headers. Node's parser refuses some (400/431), Fastify routes the rest. Properties: never a 5xx,
// never a token without a valid credential, and the server keeps serving. FUZZ_RUNS scales it
// (default 250 cases here: an eighth of FUZZ_RUNS); FUZZ_SEED replays a run.
import t from 'tap'
import fc from 'fast-check'
import { once } from 'node:events'
import { STATUS_CODES } from 'node:http'
import type { AddressInfo } from 'node:net'
import { API_KEY, OTHER_KEY, build } from '../helpers/build.js'
import { exchange } from '../helpers/net.js'
import { parsedLogs, sample } from '../helpers/output.js'

t.test('what Node would answer itself, bare, gets the contract reply on both listeners; never a token', async (t) => {
  const { app, logs } = await build(t, { env: { LOG_LEVEL: 'info', METRICS_PORT: '9464' }, noReady: true })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const listener = app.metricsListener
  if (listener === null) throw new Error('no listener with METRICS_PORT set')
  listener.listen(0, '127.0.0.1')
  await once(listener, 'listening')
  const ports = { api: (app.server.address() as AddressInfo).port, metrics: (listener.address() as AddressInfo).port }
  const key = `X-API-Key: ${API_KEY}\r\n`
  const cases: Array<{ name: string, bytes: string, status: number, reason: string, message: string }> = [
    { name: 'no Host (HTTP/1.1)', bytes: `GET /token/webrtc HTTP/1.1\r\n${key}\r\n`, status: 400, reason: 'missing_host', message: 'Missing Host header' },
    { name: 'Expect: foo', bytes: `GET /token/webrtc HTTP/1.1\r\nHost: 127.0.0.1\r\n${key}Expect: foo\r\n\r\n`, status: 417, reason: 'expectation_failed', message: 'Only the 100-continue expectation is supported' },
    { name: 'CONNECT', bytes: `CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n${key}\r\n`, status: 405, reason: 'connect', message: 'CONNECT is not supported: this service is not a proxy' }
  ]
  const malformed = async (reason: string) => sample(await app.metrics.registry.metrics(), `malformed_requests_total{reason="${reason}"}`) ?? 0
  for (const [where, port] of Object.entries(ports)) {
    for (const { bytes, status, reason, message, ...c } of cases) {
      const name = `${where} port, ${c.name}`
      const before = await malformed(reason)
      const answer = await exchange(port, bytes)
      const [head = '', body = ''] = answer.split('\r\n\r\n')
      t.match(head, new RegExp(`^HTTP/1\\.1 ${status} `), `${name}: ${status}`)
      t.same(jsonOrText(body), { statusCode: status, code: 'BAD_REQUEST', error: STATUS_CODES[status], message }, `${name}: the contract's error shape`)
      t.match(head, /^x-content-type-options: nosniff$/im, `${name}: the security headers`)
      t.match(head, /^content-security-policy: default-src 'none'/im)
      const id = /^x-request-id: ([0-9a-f-]{36})$/im.exec(head)?.[1]
      t.ok(id, `${name}: a request id`)
      t.notMatch(answer, API_KEY.slice(0, 12), `${name}: nothing of the request echoed`)
      t.notMatch(answer, 'access_token', `${name}: no token for a valid key`)
      t.ok(parsedLogs(logs).some((l) => l.reqId === id && l.status === status), `${name}: its log line`)
      t.equal(await malformed(reason), before + 1, `${name}: counted as ${reason}`)
    }
  }
  t.notOk(sample(await app.metrics.registry.metrics(), 'token_requests_total{upstream="global",outcome="served"}'), 'no token was handed out')

  // The unrefused neighbours still work: HTTP/1.0, with or without a Host (which it does not
  // require), and Expect: 100-continue.
  const http10 = await exchange(ports.api, `GET /token/webrtc HTTP/1.0\r\nHost: 127.0.0.1\r\n${key}\r\n`)
  t.match(http10, /^HTTP\/1\.1 200 [^]*"access_token"/, 'HTTP/1.0 with a Host is served')
  const hostless10 = await exchange(ports.api, 'GET /healthz HTTP/1.0\r\n\r\n')
  t.match(hostless10, /^HTTP\/1\.1 200 /, 'HTTP/1.0 without a Host is served (a load balancer\'s health check)')
  // A CONNECT pipelined behind a request is answered after it, so each reply meets its request.
  const pipelined = await exchange(ports.api, `GET /token/webrtc HTTP/1.1\r\nHost: 127.0.0.1\r\n${key}\r\nCONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n`)
  t.match(pipelined, /^HTTP\/1\.1 200 [^]*"access_token"[^]*HTTP\/1\.1 405 /, 'the request\'s 200, then the CONNECT\'s 405')
  const continued = await exchange(ports.api, `GET /token/webrtc HTTP/1.1\r\nHost: 127.0.0.1\r\n${key}Expect: 100-continue\r\nConnection: close\r\n\r\n`)
  t.match(continued, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 [^]*"access_token"/, 'Expect: 100-continue is served')
})

/** A reply body as JSON, or as the text it is (Node's bare replies have none), so the assertion says what came. */
function jsonOrText (body: string): unknown {
  try {
    return JSON.parse(body)
  } catch {
    return body
  }
}

const RUNS = Math.max(50, Math.round(Number(process.env.FUZZ_RUNS ?? 2000) / 8))
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED)
t.test(`raw HTTP fuzz over a socket (${RUNS} cases)`, async (t) => {
  const { app } = await build(t, { env: { LOG_LEVEL: 'warn', RATE_LIMIT_MAX: '1000000' }, noReady: true })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as { port: number }
  const validKeys = [API_KEY, OTHER_KEY]

  const bytes = (max: number) => fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a).toString('latin1'))
  const visible = fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 40 })
  const target = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom('/token/webrtc', '/token/webrtc?upstream=global', '/token/webrtc?upstream=bandwidth', '/healthz', '/readyz', '/metrics') },
    { weight: 3, arbitrary: fc.constantFrom('//token/webrtc', '/\\token/webrtc', '//evil.test/token/webrtc', 'http://localhost/token/webrtc', 'http://evil.test/token/webrtc', '*', '', '/token/webrtc#x', '/token/webrtc?upstream=%', '/%', '/%zz', '/..%2f..%2fetc/passwd', '/token/webrtc?upstream=global&upstream=global') },
    { weight: 2, arbitrary: fc.tuple(fc.constantFrom('/', '/token/', '//', '/\\'), visible).map(([a, b]) => a + b) },
    { weight: 2, arbitrary: fc.tuple(fc.constantFrom('/token/webrtc?', '/', '//'), bytes(64)).map(([a, b]) => a + b.replace(/[\s]/g, '')) },
    { weight: 1, arbitrary: fc.integer({ min: 1000, max: 40_000 }).map((n) => `/${'a'.repeat(n)}`) }
  )
  const method = fc.oneof(
    { weight: 10, arbitrary: fc.constant('GET') },
    { weight: 3, arbitrary: fc.constantFrom('HEAD', 'POST', 'OPTIONS', 'DELETE') },
    { weight: 1, arbitrary: fc.constantFrom('get', 'G3T', 'CONNECT', '') }
  )
  const credential = fc.oneof(
    fc.constant([] as string[]),
    fc.constantFrom(...validKeys).map((k) => [`X-API-Key: ${k}`]),
    fc.constantFrom(...validKeys).map((k) => [`X-API-Key: ${k}`, `X-API-Key: ${k}`]), // repeated: joined by Node, refused
    fc.constantFrom(...validKeys).map((k) => [`x-api-key:${k.slice(0, -1)}\u00e9`]),
    bytes(48).map((b) => [`X-API-Key: ${b.replace(/[\r\n]/g, '')}`]),
    bytes(48).map((b) => [`Authorization: Bearer ${b.replace(/[\r\n]/g, '')}`])
  )
  const junkHeader = fc.oneof(
    fc.tuple(visible.filter((n) => n !== '' && !n.includes(':')), bytes(64)).map(([n, v]) => `${n}: ${v.replace(/[\r\n]/g, '')}`),
    fc.constantFrom('no-colon-here', ': empty-name', ' leading-space: x', 'obs: fold\r\n continued', 'Host: a', 'Host: a\r\nHost: b', 'Content-Length: 5\r\nContent-Length: 6', 'Transfer-Encoding: chunked', 'X-Forwarded-For: 1.2.3.4'),
    fc.integer({ min: 1000, max: 40_000 }).map((n) => `X-Big: ${'b'.repeat(n)}`)
  )
  // Mostly well-formed requests, so the routes are reached, with a malformed part now and then.
  const headers = fc.oneof(
    { weight: 3, arbitrary: fc.constant([] as string[]) },
    { weight: 2, arbitrary: fc.array(junkHeader, { maxLength: 3 }) }
  )
  const request = fc.record({
    method,
    target,
    version: fc.oneof({ weight: 12, arbitrary: fc.constant('HTTP/1.1') }, { weight: 2, arbitrary: fc.constantFrom('HTTP/1.0', 'HTTP/2.0', 'HTTP/1.1 extra', '') }),
    credential,
    headers,
    body: fc.oneof(fc.constant(''), bytes(256), fc.integer({ min: 4000, max: 20_000 }).map((n) => 'x'.repeat(n)))
  })

  type Request = typeof request extends fc.Arbitrary<infer R> ? R : never

  const statuses = new Map<string, number>()
  let served = 0
  await fc.assert(fc.asyncProperty(request, async (r) => {
    const hasBodyFraming = r.headers.some((h) => /content-length|transfer-encoding/i.test(h))
    const lines = [
      `${r.method} ${r.target} ${r.version}`.trimEnd(),
      'Host: 127.0.0.1',
      'Connection: close',
      ...r.credential,
      ...r.headers,
      ...(r.body === '' || hasBodyFraming ? [] : [`Content-Length: ${Buffer.byteLength(r.body, 'latin1')}`])
    ]
    const raw = Buffer.from(`${lines.join('\r\n')}\r\n\r\n${hasBodyFraming ? '' : r.body}`, 'latin1')
    const answer = await exchange(port, raw)
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(answer)?.[1] ?? 'none'
    statuses.set(status, (statuses.get(status) ?? 0) + 1)
    if (status.startsWith('5')) throw new Error(`status ${status} for ${JSON.stringify(lines[0]?.slice(0, 120))}`)
    if (answer.includes('"access_token"')) {
      const authentic = r.credential.length === 1 && validKeys.some((k) => r.credential[0] === `X-API-Key: ${k}`)
      if (!authentic) throw new Error(`a token for ${JSON.stringify(r.credential)}`)
      served++
    }
  }), {
    numRuns: RUNS,
    // Valid callers are a small share of random cases (about 1 in 150), so a run could miss them
    // all; these well-formed requests run first every time, and the property still checks them.
    examples: validKeys.flatMap((k) => ['/token/webrtc', '/token/webrtc?upstream=bandwidth'].map((target): [Request] => [
      { method: 'GET', target, version: 'HTTP/1.1', credential: [`X-API-Key: ${k}`], headers: [], body: '' }
    ])),
    ...(SEED === undefined ? {} : { seed: SEED }),
    endOnFailure: true
  })

  t.comment(`statuses: ${[...statuses].sort().map(([s, n]) => `${s}×${n}`).join(' ')}; tokens served ${served}`)
  t.ok((statuses.get('400') ?? 0) > 0 && (statuses.get('404') ?? 0) > 0, 'parser refusals and unknown routes both reached')
  t.ok(served >= 4, `valid callers were served over the wire (${served})`)
  const alive = await fetch(`http://127.0.0.1:${port}/token/webrtc`, { headers: { 'x-api-key': API_KEY } })
  t.equal(alive.status, 200, 'still serving')
})
