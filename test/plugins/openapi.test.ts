// GET /openapi.json: an OpenAPI 3.1 document generated from the route schemas, served without
// auth, listing every public route with every status it answers.
import t from 'tap'
import { build } from '../helpers/build.js'

interface Operation { responses: Record<string, unknown>, parameters?: Array<{ name: string, in: string }>, security?: unknown[] }
interface Doc { openapi: string, info: { title: string, version: string }, paths: Record<string, Record<string, Operation>> }

t.test('lists every public route and status, generated from the schemas', async (t) => {
  const { app } = await build(t)
  const res = await app.inject({ url: '/openapi.json' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^application\/json/)
  t.equal(res.headers['x-content-type-options'], 'nosniff', 'the security headers, like every reply')
  const doc = res.json<Doc>()
  t.equal(doc.openapi, '3.1.0')
  t.equal(doc.info.title, 'WebRTC token service')
  t.match(doc.info.version, /^\d+\.\d+\.\d+/)
  const statuses = (path: string, method = 'get'): string[] => Object.keys(doc.paths[path]?.[method]?.responses ?? {}).sort()
  t.same(statuses('/token/webrtc'), ['200', '400', '401', '429', '500', '502', '503'])
  t.same(statuses('/healthz'), ['200', '400', '500'], 'every route: 400 for a request without Host, 500 for the unexpected')
  t.same(statuses('/readyz'), ['200', '400', '500', '503'])
  t.same(statuses('/metrics'), ['200', '400', '500'])
  t.same(statuses('/client/token-client.js'), ['200', '304', '400', '404', '500'])
  t.same(statuses('/openapi.json'), ['200', '400', '500'])
  const params = doc.paths['/token/webrtc']?.get?.parameters?.map((p) => `${p.in}:${p.name}`).sort()
  t.same(params, ['query:upstream'], 'no credential among the parameters')
  t.same(doc.paths['/token/webrtc']?.get?.security, [{ apiKey: [] }, { bearer: [] }], 'an API key or a bearer JWT, either one')
  const schemes = (doc as unknown as { components: { securitySchemes: Record<string, { type: string, in?: string, name?: string, scheme?: string }> } }).components.securitySchemes
  t.match(schemes, { apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' }, bearer: { type: 'http', scheme: 'bearer' } }, 'both in headers')
  t.same(doc.paths['/healthz']?.get?.security, undefined, 'probes need none')
  t.notOk(Object.keys(doc.paths).some((p) => p.startsWith('/__')), 'nothing that is not public')
})

t.test('the document follows the schemas: a field added to a reply schema would show in it', async (t) => {
  const { app } = await build(t)
  const doc = (await app.inject({ url: '/openapi.json' })).json<Doc>()
  const ok = doc.paths['/token/webrtc']?.get?.responses['200'] as { content: Record<string, { schema: { properties: Record<string, unknown>, required: string[] } }> }
  const schema = ok.content['application/json']?.schema
  t.same(Object.keys(schema?.properties ?? {}).sort(), ['access_token', 'expires_at', 'expires_in', 'token_type', 'upstream'])
  t.same([...(schema?.required ?? [])].sort(), ['access_token', 'expires_at', 'expires_in', 'token_type', 'upstream'])
})
