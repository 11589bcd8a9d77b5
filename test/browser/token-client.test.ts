// The browser token client in a real browser (Debian's chromium via playwright-core). A test
// page on one loopback origin, allowed in CORS_ORIGINS, imports the client from the service's
// /client/token-client.js on another origin and gets tokens from it: one request for many
// concurrent get() calls, a refresh before expiry with short lifetimes, Retry-After honoured on
// 503, a 401 reported through onError. A page on an origin that is not allowed is refused both
// the client module and tokens by CORS. Nothing ends up in URLs, storage or the console.
import t from 'tap'
import Fastify from 'fastify'
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import type { Page } from 'playwright-core'
import app from '../../src/app.js'
import { loadConfig } from '../../src/config/load-config.js'
import { serverOptions } from '../../src/server-options.js'
import { compileClient } from '../../scripts/build-client.js'
import { BASE_ENV } from '../helpers/build.js'
import { fakeProvider } from '../helpers/fake-provider.js'
import { browserSkipReason, launchChromium, staticOrigin } from '../helpers/browser.js'

const KEYS: Record<string, string> = {
  refresh: `refresh-${randomBytes(24).toString('base64url')}`,
  backoff: `backoff-${randomBytes(24).toString('base64url')}`,
  coalesce: `coalesce-${randomBytes(24).toString('base64url')}`,
  blocked: `blocked-${randomBytes(24).toString('base64url')}`
}
const UNKNOWN_KEY = `unknown-${randomBytes(24).toString('base64url')}`
const PAGE = '<!doctype html><meta charset="utf-8"><title>token client test page</title><script type="module" src="/harness.js"></script>'

interface Seen { at: number, sentAt?: number, method: string, path: string, caller: string, origin: string | undefined, status?: number, retryAfter?: string }
interface Token { access_token: string, expires_in: number, expires_at: string, upstream: string }
interface TokenEvent { type: 'token', at: number, token: Token }
interface ErrorEvent { type: 'error', at: number, code: string, status?: number, retryInMs?: number, name: string }
type Event = TokenEvent | ErrorEvent
type Result = { ok: true, token: Token } | { ok: false, name: string, code: string, status?: number, retryInMs?: number }

const js = (value: unknown): string => JSON.stringify(value)

t.test('the token client in Chromium, against the service on another origin', { skip: browserSkipReason() }, async (t) => {
  const clientFile = await compileClient(t.testdir())
  const harness = await readFile(new URL('./fixtures/harness.js', import.meta.url))
  const files = {
    '/': { type: 'text/html; charset=utf-8', body: PAGE },
    '/harness.js': { type: 'text/javascript; charset=utf-8', body: harness }
  }
  const allowed = await staticOrigin(t, files)
  const blocked = await staticOrigin(t, files)

  // bandwidth tokens live 15 s with a 1 s margin, refreshed by the service at half-life: the
  // client sees at most 14 s and refreshes at ~80 % of what it sees.
  const provider = fakeProvider()
  provider.expiresIn.bandwidth = 15
  // The service's first global request (its prewarm) is held until the 'backoff' client asks,
  // then fails with 503 + Retry-After: 2, so that client meets the service's 503 + Retry-After.
  let openGate = (): void => {}
  const gate = new Promise<void>((resolve) => { openGate = resolve })
  let globalCalls = 0
  provider.respond(async (upstream) => {
    if (upstream === 'global' && globalCalls++ === 0) {
      await gate
      return new Response('{"error":"temporarily_unavailable"}', { status: 503, headers: { 'content-type': 'application/json', 'retry-after': '2' } })
    }
    const token = `fake.${upstream}.${randomBytes(16).toString('base64url')}`
    provider.issued.push(token)
    return Response.json({ access_token: token, token_type: 'Bearer', expires_in: provider.expiresIn[upstream] })
  })
  const config = loadConfig({
    ...BASE_ENV,
    LOG_LEVEL: 'warn',
    CORS_ORIGINS: allowed.origin,
    API_KEYS: Object.entries(KEYS).map(([name, key]) => `${name}:${key}`).join(','),
    BANDWIDTH_EXPIRY_MARGIN_SECONDS: '1',
    TOKEN_REFRESH_AT: '0.5',
    // The held prewarm must not time out first.
    UPSTREAM_TIMEOUT_MS: '60000'
  })
  const callers = new Map(Object.entries(KEYS).map(([name, key]) => [key, name]))
  const seen: Seen[] = []
  const records = new WeakMap<object, Seen>()
  const service = Fastify({ ...serverOptions(config), logger: false })
  service.addHook('onRequest', async (request) => {
    const key = request.headers['x-api-key']
    const entry: Seen = {
      at: Date.now(),
      method: request.method,
      path: request.url.split('?')[0] as string,
      caller: typeof key === 'string' ? callers.get(key) ?? 'unknown' : 'none',
      origin: request.headers.origin
    }
    seen.push(entry)
    records.set(request, entry)
    if (entry.caller === 'backoff') openGate()
  })
  service.addHook('onSend', async (request, reply) => {
    const entry = records.get(request)
    if (entry === undefined) return
    entry.sentAt = Date.now()
    entry.status = reply.statusCode
    const retryAfter = reply.getHeader('retry-after')
    if (retryAfter !== undefined) entry.retryAfter = String(retryAfter)
  })
  const browser = await launchChromium(t)
  // Listening (and prewarming) only now that the browser is up, to keep the timeline short.
  await service.register(app, { config, tokens: { fetch: provider.fetch }, client: { file: clientFile } })
  t.teardown(async () => { openGate(); await service.close() })
  const serviceUrl = await service.listen({ host: '127.0.0.1', port: 0 })
  const tokenUrl = `${serviceUrl}/token/webrtc`
  const gets = (caller: string, origin = allowed.origin): Seen[] =>
    seen.filter((s) => s.method === 'GET' && s.path === '/token/webrtc' && s.caller === caller && s.origin === origin)

  const context = await browser.newContext()
  const consoleLines: string[] = []
  const pageErrors: string[] = []
  const requestUrls: string[] = []
  context.on('request', (request) => { requestUrls.push(request.url()) })
  async function open (origin: string): Promise<Page> {
    const page = await context.newPage()
    page.on('console', (message) => { consoleLines.push(message.text()) })
    page.on('pageerror', (err) => { pageErrors.push(String(err)) })
    await page.goto(`${origin}/`)
    await page.waitForFunction('globalThis.harness !== undefined')
    return page
  }
  const page = await open(allowed.origin)
  const call = async <T>(p: Page, expression: string): Promise<T> => await p.evaluate(expression) as T
  const events = async (name: string): Promise<Event[]> => await call<Event[]>(page, `harness.events(${js(name)})`)

  await t.test('a page on another origin imports the client from the service as a module', async (t) => {
    const exported = await call<string[]>(page, `harness.load(${js(serviceUrl)})`)
    t.ok(exported.includes('createTokenClient'))
    t.ok(exported.includes('TokenClientError'))
    const load = seen.find((s) => s.path === '/client/token-client.js')
    t.equal(load?.origin, allowed.origin, 'fetched in CORS mode, as module scripts are')
    t.equal(load?.status, 200)
  })

  // Started first: its refresh comes after ~7 s, while the other scenarios run.
  let first: Token | undefined
  await t.test('starts a client whose tokens are short-lived', async (t) => {
    await call(page, `harness.start('refresh', ${js({ url: tokenUrl, upstream: 'bandwidth', key: KEYS.refresh })})`)
    const [result] = await call<Result[]>(page, 'harness.get(\'refresh\')')
    t.ok(result?.ok, 'got a token')
    if (result?.ok !== true) return
    first = result.token
    t.equal(first.upstream, 'bandwidth')
    // At most 15 s minus the 1 s margin; how much of it is left depends on when the service's
    // refresh timer ran, so no lower bound (the schedule is tested on a fake clock in test/client/).
    t.ok(first.expires_in > 0 && first.expires_in <= 14, `expires_in ${first.expires_in}`)
  })

  await t.test('503 with Retry-After: no request before it, then a token', async (t) => {
    await call(page, `harness.start('backoff', ${js({ url: tokenUrl, upstream: 'global', key: KEYS.backoff })})`)
    const [result] = await call<Result[]>(page, 'harness.get(\'backoff\')')
    t.match(result, { ok: false, name: 'TokenClientError', code: 'UNAVAILABLE', status: 503 })
    const [failed] = gets('backoff')
    t.equal(failed?.status, 503)
    t.equal(failed?.retryAfter, '2', 'the service passes on Retry-After')
    // Readable cross-origin only because the service exposes Retry-After to CORS.
    t.ok(result?.ok === false && (result.retryInMs ?? 0) >= 2000, `the client waits at least Retry-After (${result?.ok === false ? String(result.retryInMs) : ''} ms)`)

    await page.waitForFunction('harness.events(\'backoff\').some((e) => e.type === \'token\')', null, { timeout: 15_000 })
    const log = await events('backoff')
    t.same(log.map((e) => e.type), ['error', 'token'], 'onError, then onToken when the retry succeeds')
    t.match(log[0], { code: 'UNAVAILABLE', status: 503 })
    const [, retry, ...more] = gets('backoff')
    t.equal(more.length, 0, 'one retry, no storm')
    t.equal(retry?.status, 200)
    const waited = (retry?.at ?? 0) - (failed?.sentAt ?? 0)
    t.ok(waited >= 2000 - 10, `the retry came ${waited} ms after the 503 (Retry-After: 2)`)
    await call(page, 'harness.stop(\'backoff\')')
  })

  await t.test('concurrent get() calls share one request', async (t) => {
    await call(page, `harness.start('coalesce', ${js({ url: tokenUrl, upstream: 'global', key: KEYS.coalesce })})`)
    const results = await call<Result[]>(page, 'harness.get(\'coalesce\', 5)')
    t.equal(results.length, 5)
    t.ok(results.every((r) => r.ok), 'every call got a token')
    const tokens = new Set(results.map((r) => (r.ok ? r.token.access_token : '')))
    t.equal(tokens.size, 1, 'the same token')
    t.ok(provider.issued.includes([...tokens][0] as string), 'a token the provider issued')
    t.equal(gets('coalesce').length, 1, 'one request to the service')
    t.equal((await events('coalesce')).filter((e) => e.type === 'token').length, 1, 'onToken once')
    await call(page, 'harness.stop(\'coalesce\')')
  })

  await t.test('401 is reported through onError and stops the client', async (t) => {
    await call(page, `harness.start('unauth', ${js({ url: tokenUrl, upstream: 'global', key: UNKNOWN_KEY })})`)
    const [result] = await call<Result[]>(page, 'harness.get(\'unauth\')')
    t.match(result, { ok: false, code: 'UNAUTHORIZED', status: 401 })
    t.equal(result?.ok === false ? result.retryInMs : 'none', undefined, 'no retry planned')
    const log = await events('unauth')
    t.equal(log.length, 1)
    t.match(log[0], { type: 'error', code: 'UNAUTHORIZED', status: 401 })
    t.equal(gets('unknown').length, 1)
  })

  await t.test('a page on an origin that is not allowed is refused by CORS', async (t) => {
    const other = await open(blocked.origin)
    const loaded = await call<string>(other, `harness.load(${js(serviceUrl)}).then(() => 'loaded', (err) => err.name)`)
    t.equal(loaded, 'TypeError', 'the browser refuses the client module: its origin is not allowed')
    const load = seen.find((s) => s.origin === blocked.origin && s.path === '/client/token-client.js')
    t.equal(load?.method, 'GET', 'fetched in CORS mode, as module scripts are')
    const fetched = await call<string>(other, `fetch(${js(`${tokenUrl}?upstream=global`)}, { headers: { 'X-API-Key': ${js(KEYS.blocked)} } }).then(() => 'read', (err) => err.name)`)
    t.equal(fetched, 'TypeError', 'the browser refuses the token request too')
    const fromBlocked = seen.filter((s) => s.origin === blocked.origin && s.path === '/token/webrtc')
    t.ok(fromBlocked.some((s) => s.method === 'OPTIONS'), 'the browser asked (preflight)')
    t.equal(fromBlocked.filter((s) => s.method === 'GET').length, 0, 'and never sent the request with the key')
    t.same(await call(other, 'harness.storage()'), { local: 0, session: 0, cookie: '' })
    await other.close()
  })

  await t.test('refreshes before the token expires', async (t) => {
    t.ok(first, 'the first token')
    if (first === undefined) return
    const firstToken = first.access_token
    // Wait for a token other than the first (normally the first refresh already brings one).
    await page.waitForFunction(
      `harness.events('refresh').some((e) => e.type === 'token' && e.token.access_token !== ${js(firstToken)})`,
      null, { timeout: 25_000 })
    const log = (await events('refresh')).filter((e): e is TokenEvent => e.type === 'token')
    t.ok(log.length >= 2, `${log.length} tokens`)
    const [get1, get2] = gets('refresh')
    t.ok(get2 !== undefined, 'the client asked the service again for the refresh')
    // Only a lower bound, which a busy machine cannot break (it can only make timers late): that
    // the schedule lands before expiry is tested with a fake clock in test/client/token-client.test.ts.
    const after = (get2?.at ?? 0) - (get1?.at ?? 0)
    t.ok(after >= 0.7 * first.expires_in * 1000, `not needlessly early: ${after} ms after the first request, for expires_in ${first.expires_in} s (the client plans 75 to 85 %)`)
    const second = log[1]?.token
    t.ok(second !== undefined && Date.parse(second.expires_at) > Date.parse(first.expires_at), 'a later expiry')
    t.ok(log.every((e) => provider.issued.includes(e.token.access_token)))
    await call(page, 'harness.stop(\'refresh\')')
  })

  await t.test('the token never reaches URLs, storage or the console; nothing retried after 401', async (t) => {
    t.equal(gets('unknown').length, 1, 'still one 401 request')
    t.same(await call(page, 'harness.storage()'), { local: 0, session: 0, cookie: '' })
    t.ok(requestUrls.length > 5, `${requestUrls.length} requests watched`)
    const secrets = [...provider.issued, ...Object.values(KEYS), UNKNOWN_KEY]
    for (const url of requestUrls) t.notOk(secrets.some((s) => url.includes(s)), `no token or key in ${url}`)
    const text = consoleLines.join('\n')
    t.notOk(secrets.some((s) => text.includes(s)), 'no token or key on the console')
    t.same(pageErrors, [], 'no uncaught page errors')
  })
})
