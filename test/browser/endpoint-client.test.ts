// The endpoint client in a real browser (Debian's chromium via playwright-core), against the
// service listening on loopback in BRTC mode, its Endpoints API calls going to the emulator. A
// page on an allowed origin imports the client from the service's /client/token-client.js,
// creates endpoints, lists them, releases one, hits the cap (409 as LIMIT), and then goes away:
// its pagehide sends keepalive deletes (preflighted: they carry X-API-Key) that outlive it, and
// the provider no longer holds its endpoints. Endpoint tokens end up in no URL, storage or
// console line.
import t from 'tap'
import Fastify from 'fastify'
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import app from '../../src/app.js'
import { loadConfig } from '../../src/config/load-config.js'
import { serverOptions } from '../../src/server-options.js'
import { compileClient } from '../../scripts/build-client.js'
import { BASE_ENV } from '../helpers/build.js'
import { browserSkipReason, launchChromium, staticOrigin } from '../helpers/browser.js'
import { eventually } from '../helpers/eventually.js'
import { brtcEnv, startBrtcEmulator } from '../helpers/brtc-rig.js'

const KEY = `page-${randomBytes(24).toString('base64url')}`
const PAGE = '<!doctype html><meta charset="utf-8"><title>endpoint client test page</title><script type="module" src="/harness.js"></script>'

interface Created { ok: true, endpoint_id: string, token: string, expires_in: number, frozen: boolean }
interface Failed { ok: false, name: string, code: string, status?: number, serviceCode?: string, message: string }

const js = (value: unknown): string => JSON.stringify(value)

t.test('the endpoint client in Chromium, against the service on another origin', { skip: browserSkipReason() }, async (t) => {
  const clientFile = await compileClient(t.testdir())
  const harness = await readFile(new URL('./fixtures/endpoint-harness.js', import.meta.url))
  const page0 = await staticOrigin(t, {
    '/': { type: 'text/html; charset=utf-8', body: PAGE },
    '/harness.js': { type: 'text/javascript; charset=utf-8', body: harness }
  })
  const emulator = await startBrtcEmulator(t)
  const config = loadConfig({
    ...BASE_ENV,
    ...brtcEnv(emulator),
    LOG_LEVEL: 'warn',
    API_KEYS: `page:${KEY}`,
    CORS_ORIGINS: page0.origin,
    BRTC_MAX_ENDPOINTS_PER_CALLER: '2'
  })
  const seen: Array<{ method: string, path: string, origin: string | undefined }> = []
  const service = Fastify({ ...serverOptions(config), logger: false })
  service.addHook('onRequest', async (request) => { seen.push({ method: request.method, path: request.url, origin: request.headers.origin }) })
  await service.register(app, { config, client: { file: clientFile } })
  t.teardown(async () => { await service.close() })
  const serviceUrl = await service.listen({ host: '127.0.0.1', port: 0 })

  const browser = await launchChromium(t)
  const context = await browser.newContext()
  const consoleLines: string[] = []
  const requestUrls: string[] = []
  context.on('request', (request) => { requestUrls.push(request.url()) })
  const page = await context.newPage()
  page.on('console', (message) => { consoleLines.push(message.text()) })
  await page.goto(`${page0.origin}/`)
  await page.waitForFunction('globalThis.endpointHarness !== undefined')
  const call = async <T>(expression: string): Promise<T> => await page.evaluate(expression) as T

  const exported = await call<string[]>(`endpointHarness.load(${js(serviceUrl)}, ${js(KEY)})`)
  t.ok(exported.includes('createEndpointClient') && exported.includes('createTokenClient'), 'one served module offers both clients')

  const first = await call<Created>('endpointHarness.create()')
  t.match(first, { ok: true, frozen: true })
  t.ok(first.expires_in > 86_000)
  const stored = emulator.brtcEndpoints()
  t.equal(stored[0]?.token, first.token, 'the endpoint\'s own token reached the page')
  const second = await call<Created>('endpointHarness.create()')
  t.equal(second.ok, true)
  const limit = await call<Failed>('endpointHarness.create()')
  t.match(limit, { ok: false, name: 'EndpointClientError', code: 'LIMIT', status: 409, serviceCode: 'ENDPOINT_LIMIT' })
  t.same((await call<string[]>('endpointHarness.list()')).sort(), [first.endpoint_id, second.endpoint_id].sort())

  t.same(await call<string[]>(`endpointHarness.release(${js(first.endpoint_id)})`), [second.endpoint_id], 'released one, the other still held')
  t.same(emulator.brtcEndpoints().map((e) => e.endpointId), [second.endpoint_id])
  const third = await call<Created>('endpointHarness.create()')
  t.equal(third.ok, true, 'a slot was freed')
  t.same(await call('endpointHarness.storage()'), { local: 0, session: 0, cookie: '' })

  // The page goes away: its pagehide deletes what it still holds, in requests that outlive it.
  await page.goto('about:blank')
  await eventually(() => emulator.brtcEndpoints().length === 0, 'the keepalive deletes reached the provider')
  const deletes = seen.filter((s) => s.path.startsWith('/endpoints/webrtc/'))
  t.ok(deletes.some((s) => s.method === 'OPTIONS'), 'preflighted (they carry X-API-Key)')
  t.same(deletes.filter((s) => s.method === 'DELETE').map((s) => s.path).sort(),
    [`/endpoints/webrtc/${first.endpoint_id}`, `/endpoints/webrtc/${second.endpoint_id}`, `/endpoints/webrtc/${third.endpoint_id}`].sort())
  t.ok(deletes.every((s) => s.origin === page0.origin))

  const tokens = [first.token, second.token, third.token]
  for (const url of requestUrls) t.notOk(tokens.some((token) => url.includes(token)), `no endpoint token in ${url}`)
  t.notOk(tokens.some((token) => consoleLines.join('\n').includes(token)), 'none on the console')
})
