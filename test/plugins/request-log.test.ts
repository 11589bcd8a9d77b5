// The structured logs: exactly one line per request (Fastify's own pair is off) with reqId,
// method, route pattern, status, duration, the caller's name and the bounded upstream; probes at
// debug; token refreshes at info with the token id only where the provider sent one; a provider
// outage at warn once per change.
import t from 'tap'
import type { FastifyRequest } from 'fastify'
import { loadConfig } from '../../src/config/load-config.js'
import { serverOptions } from '../../src/server-options.js'
import { API_KEY, BASE_ENV, OTHER_KEY, build } from '../helpers/build.js'
import { FakeClock, settle } from '../helpers/fake-clock.js'
import { fakeProvider } from '../helpers/fake-provider.js'
import { createTestJwks } from '../helpers/jwks.js'
import { parsedLogs } from '../helpers/output.js'

type Line = Record<string, unknown>
const requestLines = (logs: string[]): Line[] => parsedLogs(logs).filter((l) => l.msg === 'request completed')

t.test('one line per request with route, status, duration, caller name and upstream', async (t) => {
  const idp = await createTestJwks()
  t.teardown(async () => { await idp.close() })
  const { app, logs } = await build(t, {
    env: { LOG_LEVEL: 'info', AUTH_JWKS_URL: idp.jwksUrl.href, AUTH_ISSUER: idp.issuer, AUTH_AUDIENCE: idp.audience },
    auth: { customFetch: idp.fetch }
  })
  const jwt = await idp.sign({ sub: 'alice@example.test' })
  const calls: Array<[string, Record<string, string>]> = [
    ['/token/webrtc', { 'x-api-key': API_KEY }],
    ['/token/webrtc?upstream=bandwidth', { 'x-api-key': OTHER_KEY }],
    ['/token/webrtc', { authorization: `Bearer ${jwt}` }],
    ['/token/webrtc?upstream=nope', { 'x-api-key': API_KEY }],
    [`/token/webrtc?api_key=${API_KEY}`, { 'x-api-key': API_KEY }],
    ['/token/webrtc', { 'x-api-key': 'wrong-key' }],
    [`/token/${OTHER_KEY}`, {}]
  ]
  const before = logs.length
  const ids: string[] = []
  for (const [url, headers] of calls) {
    const res = await app.inject({ url, headers })
    ids.push(String(res.headers['x-request-id'] ?? ''))
  }
  const fresh = parsedLogs(logs.slice(before))
  t.notOk(fresh.some((l) => l.msg === 'incoming request'), "Fastify's own request lines are off")
  const lines = requestLines(logs.slice(before))
  t.equal(lines.length, calls.length, 'one request line per request')
  t.equal(new Set(lines.map((l) => l.reqId)).size, calls.length, 'each with its own reqId')
  for (const line of lines) {
    t.equal(line.level, 30)
    t.equal(line.method, 'GET')
    t.type(line.durationMs, 'number')
    t.ok((line.durationMs as number) >= 0)
    t.equal(line.remoteAddress, '127.0.0.1')
    t.notOk('url' in line || 'req' in line || 'res' in line, 'no raw URL')
  }
  const fields = lines.map((l) => [l.route, l.status, l.caller, l.upstream, l.authFailure])
  t.same(fields, [
    ['/token/webrtc', 200, 'web', 'global', undefined],
    ['/token/webrtc', 200, 'mobile', 'bandwidth', undefined],
    ['/token/webrtc', 200, 'alice@example.test', 'global', undefined],
    ['/token/webrtc', 400, 'web', 'unknown', undefined],
    ['/token/webrtc', 400, 'web', 'global', undefined],
    ['/token/webrtc', 401, undefined, 'global', 'unknown_api_key'],
    [undefined, 404, undefined, undefined, undefined]
  ])
  // At info, every request writes this one line and nothing else (refused ones included).
  for (const line of lines) t.equal(fresh.filter((l) => l.reqId === line.reqId).length, 1, `one line for the ${String(line.status)}`)
  t.ok(ids.every((id) => id !== ''), 'every reply echoes its request id')
  t.same(lines.map((l) => l.reqId), ids, 'the reqId is the one echoed to the caller')
  const text = logs.join('\n')
  for (const needle of [API_KEY, OTHER_KEY, jwt, 'wrong-key']) t.notOk(text.includes(needle), `no ${needle.slice(0, 6)}… in the logs`)
})

t.test('probes and the OpenAPI document log at debug only', async (t) => {
  const info = await build(t, { env: { LOG_LEVEL: 'info' } })
  const debug = await build(t, { env: { LOG_LEVEL: 'debug' } })
  const urls = ['/healthz', '/readyz', '/metrics', '/openapi.json']
  for (const { app } of [info, debug]) {
    for (const url of urls) t.equal((await app.inject({ url })).statusCode, 200)
  }
  t.same(requestLines(info.logs), [], 'nothing at info')
  const lines = requestLines(debug.logs)
  t.same(lines.map((l) => [l.level, l.route, l.status]), urls.map((url) => [20, url, 200]))
  t.ok(lines.every((l) => typeof l.reqId === 'string' && l.reqId !== ''), 'with their reqId')
})

t.test('token refreshes log at info with upstream, expiresIn and the token id only when given', async (t) => {
  const clock = new FakeClock()
  const provider = fakeProvider()
  const { app, logs } = await build(t, { provider, env: { LOG_LEVEL: 'info' }, tokens: { clock } })
  await settle()
  provider.respond((upstream) => Response.json({ access_token: `no-id-${upstream}`, token_type: 'Bearer', expires_in: 600 }))
  clock.advance(480_000) // global refreshes at 80 % of 600 s
  await settle()
  const refreshes = parsedLogs(logs).filter((l) => l.msg === 'upstream token refreshed')
  t.same(refreshes.map((l) => [l.level, l.upstream, l.expiresIn, l.tokenId]).sort(), [
    [30, 'bandwidth', 3600, 'id-1'],
    [30, 'global', 600, 'id-2'],
    [30, 'global', 600, undefined]
  ].sort())
  t.notOk('tokenId' in (refreshes.find((l) => l.tokenId === undefined) ?? {}), 'no tokenId field at all when the provider sent none')
  t.notMatch(logs.join('\n'), /no-id-|fake\./, 'never the token itself')
  t.equal((await app.inject({ url: '/token/webrtc', headers: { 'x-api-key': API_KEY } })).json<{ access_token: string }>().access_token, 'no-id-global')
})

t.test('a provider outage logs at warn once per change, its end at info once', async (t) => {
  const clock = new FakeClock()
  const provider = fakeProvider()
  provider.respond(() => new Response('<h1>down</h1>', { status: 503 }))
  const { logs } = await build(t, { provider, env: { LOG_LEVEL: 'info' }, tokens: { clock, random: () => 0.5 } })
  const outage = async (ms: number): Promise<void> => {
    for (let at = 0; at < ms; at += 1000) {
      clock.advance(1000)
      await settle()
    }
  }
  await outage(60_000)
  const warns = (): Line[] => parsedLogs(logs).filter((l) => l.level === 40 && l.upstream !== undefined)
  t.same(warns().map((l) => [l.upstream, l.errorClass, l.msg]).sort(), [
    ['bandwidth', 'server_error', 'upstream token fetch failing; backing off'],
    ['global', 'server_error', 'upstream token fetch failing; backing off']
  ])
  t.ok(provider.calls.global! >= 9, `${provider.calls.global} provider requests, one warning`)
  provider.respond(null)
  await outage(10_000)
  const recovered = parsedLogs(logs).filter((l) => l.msg === 'upstream token fetch recovered')
  t.same(recovered.map((l) => [l.level, l.upstream]).sort(), [[30, 'bandwidth'], [30, 'global']])
  provider.respond(() => new Response('down', { status: 500 }))
  await outage(600_000) // global refreshes at 480 s and fails from then on
  t.equal(warns().filter((l) => l.upstream === 'global').length, 2, 'the second outage: one more warning')
  t.notMatch(logs.join('\n'), '<h1>', 'never the provider body')
})

t.test("Fastify's own failure lines stay on: a request that errors after the reply is logged", async (t) => {
  const { app, logs } = await build(t, { env: { LOG_LEVEL: 'info' }, noReady: true })
  app.addHook('onResponse', async () => { throw new Error('late failure') })
  await app.ready()
  t.equal((await app.inject({ url: '/token/webrtc', headers: { 'x-api-key': API_KEY } })).statusCode, 200)
  const lines = parsedLogs(logs)
  t.equal(lines.filter((l) => l.msg === 'request completed').length, 1, 'still one request line')
  const errored = lines.filter((l) => l.msg === 'request errored')
  t.equal(errored.length, 1)
  t.equal(errored[0]?.level, 50)
  t.notOk(lines.some((l) => l.msg === 'incoming request'))
})

t.test('a request object, wherever Fastify logs one, shows only method, masked URL and address', async (t) => {
  const options = serverOptions(loadConfig(BASE_ENV))
  const serializers = (options.logger as { serializers: { req: (req: FastifyRequest) => unknown } }).serializers
  const req = { method: 'GET', url: `/token/webrtc?api_key=${API_KEY}&upstream=global`, ip: '192.0.2.1', headers: { 'x-api-key': API_KEY } }
  t.same(serializers.req(req as unknown as FastifyRequest), {
    method: 'GET', url: '/token/webrtc?api_key=[redacted]&upstream=global', remoteAddress: '192.0.2.1'
  })
})
