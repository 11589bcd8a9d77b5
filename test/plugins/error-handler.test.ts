// The one error handler: stable codes, hidden 5xx details, Retry-After where due, and messages
// that never echo the request; AppErrors carry no stack (expected outcomes) without touching
// the global Error.stackTraceLimit.
import t from 'tap'
import { toErrorBody } from '../../src/plugins/error-handler.js'
import { AppError, appError, logSafeCode, rateLimited, upstreamUnavailable } from '../../src/lib/errors.js'
import { build } from '../helpers/build.js'

t.test('an unexpected error is a 500 without its message; an outage a 503 with Retry-After', async (t) => {
  const { app, logs } = await build(t, { noReady: true })
  app.get('/boom', async () => { throw new Error('secret-detail-xyz') })
  app.get('/busy', async () => { throw upstreamUnavailable('global', 'timeout', 2200) })
  app.get('/limited', async () => { throw rateLimited(59_001, 7) })
  await app.ready()
  const res = await app.inject('/boom')
  t.equal(res.statusCode, 500)
  t.same(res.json(), { statusCode: 500, code: 'INTERNAL', error: 'Internal Server Error', message: 'Internal Server Error' })
  t.match(logs.join('\n'), /unhandled error/)
  t.notMatch(logs.join('\n'), 'secret-detail-xyz', 'the message of a foreign error is never logged')
  const busy = await app.inject('/busy')
  t.equal(busy.statusCode, 503)
  t.equal(busy.headers['retry-after'], '3')
  t.equal(busy.json().code, 'UPSTREAM_UNAVAILABLE')
  const limited = await app.inject('/limited')
  t.equal(limited.statusCode, 429)
  t.same([limited.headers['retry-after'], limited.headers['x-ratelimit-limit'], limited.headers['x-ratelimit-remaining']], ['60', '7', '0'])
})

t.test('toErrorBody: framework 4xx keep only validation messages; unknown statuses', async (t) => {
  const notFound = Object.assign(new Error('Route GET:/x?key=secret not found'), { statusCode: 404 })
  t.same(toErrorBody(notFound as never), { statusCode: 404, code: 'NOT_FOUND', error: 'Not Found', message: 'Not Found' }, 'the URL is not echoed')
  const media = Object.assign(new Error('Unsupported Media Type: application/x-secret'), { statusCode: 415 })
  t.equal(toErrorBody(media as never).message, 'Unsupported Media Type', 'a header is not echoed')
  const invalid = Object.assign(new Error('querystring must NOT have additional properties'), { statusCode: 400, validation: [] })
  t.equal(toErrorBody(invalid as never).message, 'querystring must NOT have additional properties', 'validation says which field')
  const teapot = Object.assign(new Error('short and stout'), { statusCode: 418 })
  t.same(toErrorBody(teapot as never), { statusCode: 418, code: 'BAD_REQUEST', error: "I'm a Teapot", message: "I'm a Teapot" })
  t.equal(toErrorBody(appError(599, 'INTERNAL', 'x')).error, 'Error')
})

t.test('AppErrors carry no stack frames, and the global limit is never touched', async (t) => {
  const before = Error.stackTraceLimit
  let touched = false
  Object.defineProperty(Error, 'stackTraceLimit', {
    configurable: true,
    get: () => before,
    set: () => { touched = true }
  })
  const err = upstreamUnavailable('global', 'timeout', 1000)
  Object.defineProperty(Error, 'stackTraceLimit', { configurable: true, writable: true, value: before })
  t.notOk(touched, 'Error.stackTraceLimit was not written')
  t.ok(err instanceof AppError && err instanceof Error)
  t.equal(err.stack, undefined, 'no stack captured')
  t.equal(err.name, 'AppError')
  t.match(String(new Error('x').stack), /\n\s+at /, 'other errors keep theirs')
})

t.test('logSafeCode: a system code (also from a cause), else a class name, never a message', async (t) => {
  t.equal(logSafeCode(Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:6379 secret'), { code: 'ECONNREFUSED' })), 'ECONNREFUSED')
  t.equal(logSafeCode(new TypeError('fetch failed', { cause: Object.assign(new Error('x'), { code: 'ENOTFOUND' }) })), 'ENOTFOUND')
  t.equal(logSafeCode(Object.assign(new Error('x'), { code: 'not a code: /path' })), 'Error')
  t.equal(logSafeCode(new RangeError('secret')), 'RangeError')
  t.equal(logSafeCode(Object.assign(new Error('x'), { name: 'weird name with spaces' })), 'Error')
  t.equal(logSafeCode('a string'), 'string')
  t.equal(logSafeCode(null), 'object')
})
