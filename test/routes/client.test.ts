// GET /client/token-client.js: the built browser client with a strong ETag, a day of public
// caching, 304 on If-None-Match, CORS only for the origins in CORS_ORIGINS, as on every route;
// 404 and a startup warning when the client is not built.
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CLIENT_CACHE_CONTROL, DEFAULT_CLIENT_FILE, etagMatches } from '../../src/routes/client.js'
import { compileClient, compileClientSource } from '../../scripts/build-client.js'
import { BASE_ENV, build } from '../helpers/build.js'
import { exchange } from '../helpers/net.js'
import { parsedLogs } from '../helpers/output.js'

const SOURCE = 'export const hello = () => "world"\n'
const ETAG = `"${createHash('sha256').update(SOURCE).digest('base64url')}"`
const PATH = '/client/token-client.js'

async function withClient (t: Test, file: string | URL, env: Record<string, string> = {}): Promise<FastifyInstance> {
  return (await build(t, { env: { LOG_LEVEL: 'silent', ...env }, client: { file } })).app
}

const fixture = (t: Test): string => join(t.testdir({ 'token-client.js': SOURCE }), 'token-client.js')

t.test('200: the module, a strong ETag, a day of public caching, and no CORS with CORS_ORIGINS unset', async (t) => {
  const fastify = await withClient(t, fixture(t))
  const res = await fastify.inject({ url: PATH, headers: { origin: 'https://app.example.com' } })
  t.equal(res.statusCode, 200)
  t.equal(res.body, SOURCE)
  t.equal(res.headers['content-type'], 'text/javascript; charset=utf-8')
  t.equal(res.headers.etag, ETAG, 'SHA-256 of the bytes, strong')
  t.equal(res.headers['cache-control'], CLIENT_CACHE_CONTROL)
  t.equal(CLIENT_CACHE_CONTROL, 'public, max-age=86400', 'long, but not immutable: the URL has no version')
  t.notOk(res.headers['access-control-allow-origin'], 'no CORS headers: none configured')
  t.equal(res.headers['cross-origin-resource-policy'], 'same-site', 'the headers of every other reply')
  t.equal(res.headers['x-content-type-options'], 'nosniff')
})

t.test('If-None-Match: 304 without a body when the ETag matches (weak comparison), 200 otherwise', async (t) => {
  const fastify = await withClient(t, fixture(t))
  for (const header of [ETAG, `W/${ETAG}`, `"other", ${ETAG}`, '*']) {
    const res = await fastify.inject({ url: PATH, headers: { 'if-none-match': header } })
    t.equal(res.statusCode, 304, header)
    t.equal(res.body, '')
    t.notOk('content-length' in res.headers, 'no Content-Length')
    t.notOk('content-type' in res.headers, 'no Content-Type')
    t.equal(res.headers.etag, ETAG)
    t.equal(res.headers['cache-control'], CLIENT_CACHE_CONTROL)
  }
  const stale = await fastify.inject({ url: PATH, headers: { 'if-none-match': '"an-older-build"' } })
  t.equal(stale.statusCode, 200)
  t.equal(stale.body, SOURCE)
})

t.test('on the wire, the 304 has no body and announces none', async (t) => {
  const fastify = await withClient(t, fixture(t))
  const base = await fastify.listen({ host: '127.0.0.1', port: 0 })
  const answer = await exchange(Number(new URL(base).port), `GET ${PATH} HTTP/1.1\r\nHost: x\r\nIf-None-Match: ${ETAG}\r\nConnection: close\r\n\r\n`)
  const [head = '', rest = ''] = answer.split('\r\n\r\n')
  t.match(head, /^HTTP\/1\.1 304 /)
  t.notMatch(head, /^content-length:/im)
  t.notMatch(head, /^content-type:/im)
  t.equal(rest, '', 'nothing after the head')
})

t.test('HEAD, and a cache-busting query string, are fine', async (t) => {
  const fastify = await withClient(t, fixture(t))
  const head = await fastify.inject({ method: 'HEAD', url: PATH })
  t.equal(head.statusCode, 200)
  t.equal(head.body, '')
  t.equal(head.headers.etag, ETAG)
  const busted = await fastify.inject({ url: `${PATH}?v=2` })
  t.equal(busted.statusCode, 200)
  t.equal(busted.body, SOURCE)
})

t.test('CORS as on every route: an allowed origin may import it (200 and 304), another may not', async (t) => {
  const fastify = await withClient(t, fixture(t), { CORS_ORIGINS: 'https://app.example.com' })
  const allowedClient = await fastify.inject({ url: PATH, headers: { origin: 'https://app.example.com' } })
  t.equal(allowedClient.statusCode, 200)
  t.equal(allowedClient.headers['access-control-allow-origin'], 'https://app.example.com')
  t.match(allowedClient.headers.vary, /Origin/, 'shared caches keep one copy per origin')
  const revalidated = await fastify.inject({ url: PATH, headers: { origin: 'https://app.example.com', 'if-none-match': ETAG } })
  t.equal(revalidated.statusCode, 304)
  t.equal(revalidated.headers['access-control-allow-origin'], 'https://app.example.com')
  const client = await fastify.inject({ url: PATH, headers: { origin: 'https://evil.example' } })
  t.equal(client.statusCode, 200, 'served, but a browser on that origin cannot read it')
  t.notOk(client.headers['access-control-allow-origin'], 'an unlisted origin gets no CORS')
  const api = await fastify.inject({ url: '/token/webrtc', headers: { origin: 'https://evil.example' } })
  t.notOk(api.headers['access-control-allow-origin'], 'an unlisted origin gets no CORS on the API')
  t.equal(api.headers['cross-origin-resource-policy'], 'same-site')
  const allowed = await fastify.inject({ url: '/token/webrtc', headers: { origin: 'https://app.example.com' } })
  t.equal(allowed.headers['access-control-allow-origin'], 'https://app.example.com')
})

t.test('not built: a warning at startup and 404, while the token API works', async (t) => {
  const { app: fastify, logs } = await build(t)
  const res = await fastify.inject({ url: PATH })
  t.equal(res.statusCode, 404)
  t.same(res.json(), { statusCode: 404, code: 'NOT_FOUND', error: 'Not Found', message: 'The browser token client is not built' })
  const warning = parsedLogs<{ level: number, msg: string, file?: string }>(logs).find((l) => l.msg.includes('browser token client not found'))
  t.equal(warning?.level, 40, 'logged at warn')
  t.equal(warning?.file, fileURLToPath(DEFAULT_CLIENT_FILE))
  t.match(warning?.msg, /npm run build/)
  const token = await fastify.inject({ url: '/token/webrtc', headers: { 'x-api-key': BASE_ENV.API_KEYS?.split(',')[0]?.split(':')[1] ?? '' } })
  t.equal(token.statusCode, 200)
})

t.test('a missing file given as a path is the same 404', async (t) => {
  const fastify = await withClient(t, join(t.testdir(), 'nope.js'))
  t.equal((await fastify.inject({ url: PATH })).statusCode, 404)
})

t.test('an unreadable client (not a missing one) fails startup', async (t) => {
  await t.rejects(withClient(t, t.testdir()), { code: 'EISDIR' })
})

t.test('by default the file is ../client/token-client.js next to the route: dist/client/ in a build', async (t) => {
  t.ok(fileURLToPath(DEFAULT_CLIENT_FILE).endsWith(join('client', 'token-client.js')))
  t.equal(new URL('.', DEFAULT_CLIENT_FILE).href, new URL('../client/', new URL('../../src/routes/client.ts', import.meta.url)).href)
})

t.test('etagMatches: no header matches nothing', async (t) => {
  t.notOk(etagMatches(undefined, ETAG))
  t.notOk(etagMatches('', ETAG))
  t.ok(etagMatches(` W/${ETAG} `, ETAG))
})

t.test('the compiled client, as served, is an ES module exporting the client API', async (t) => {
  const file = await compileClient(t.testdir())
  const fastify = await withClient(t, file)
  const res = await fastify.inject({ url: PATH })
  t.equal(res.statusCode, 200)
  const mod = await import(`data:text/javascript;base64,${res.rawPayload.toString('base64')}`) as Record<string, unknown>
  t.type(mod.createTokenClient, 'function')
  t.type(mod.TokenClientError, 'function')
  t.notMatch(res.body, /sourceMappingURL/, 'no source map to 404 on')
})

t.test('the bundle is self-contained: the shared Retry-After parser is built in, no import is left', async (t) => {
  const source = await compileClientSource()
  t.notMatch(source, /^\s*import\s/m, 'no import statement for a browser to resolve')
  t.match(source, /function parseRetryAfter/, 'src/lib/retry-after.ts is bundled in')
  const mod = await import(`data:text/javascript;base64,${Buffer.from(source).toString('base64')}`) as { parseRetryAfter: (v: string | null, now: number) => number | undefined }
  t.equal(mod.parseRetryAfter('7.5', 0), 7500, 'the same reading as the server: 7.5 s')
  t.equal(mod.parseRetryAfter('-3', 0), undefined)
})
