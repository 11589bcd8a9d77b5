// The one error handler: stable codes, hidden 5xx details, Retry-After where due.
import t from 'tap'
import Fastify from 'fastify'
import errorHandler, { toErrorBody } from '../../src/plugins/error-handler.js'
import { AppError, UpstreamUnavailableError } from '../../src/lib/errors.js'

t.test('an unexpected error is a 500 without its message', async (t) => {
  const lines: string[] = []
  const app = Fastify({ logger: { level: 'info', stream: { write: (l: string) => { lines.push(l) } } } })
  await app.register(errorHandler)
  app.get('/boom', async () => { throw new Error('secret-detail-xyz') })
  app.get('/busy', async () => { throw new UpstreamUnavailableError('global', 'timeout', 2.2) })
  t.teardown(async () => { await app.close() })
  const res = await app.inject('/boom')
  t.equal(res.statusCode, 500)
  t.same(res.json(), { statusCode: 500, code: 'INTERNAL', error: 'Internal Server Error', message: 'Internal Server Error' })
  t.match(lines.join(''), /unhandled error/)
  const busy = await app.inject('/busy')
  t.equal(busy.statusCode, 503)
  t.equal(busy.headers['retry-after'], '3')
})

t.test('toErrorBody maps framework 4xx and unknown statuses', async (t) => {
  const notFound = Object.assign(new Error('Route GET:/x not found'), { statusCode: 404 })
  t.equal(toErrorBody(notFound as never).code, 'NOT_FOUND')
  const teapot = Object.assign(new Error('short and stout'), { statusCode: 418 })
  t.same(toErrorBody(teapot as never), { statusCode: 418, code: 'BAD_REQUEST', error: "I'm a Teapot", message: 'short and stout' })
  t.equal(toErrorBody(new AppError(599, 'INTERNAL', 'x')).error, 'Error')
})

t.test('AppErrors carry no stack frames (expected outcomes); other errors keep theirs', async (t) => {
  const before = Error.stackTraceLimit
  const err = new UpstreamUnavailableError('global', 'timeout', 1)
  t.equal(err.stack, 'UpstreamUnavailableError: Upstream global is unavailable; retry later')
  t.equal(Error.stackTraceLimit, before, 'the limit is restored')
  t.match(String(new Error('x').stack), /\n\s+at /)
})
