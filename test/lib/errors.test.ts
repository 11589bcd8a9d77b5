// The service's errors (src/lib/errors.ts), on their own: each factory's stable code and status,
// Retry-After whole seconds within the contract's 1-60, the rate limit's headers, messages that
// say nothing the caller did not know (no secret, no upstream body), AppErrors built without a
// stack (expected outcomes) that are still `instanceof AppError` and `Error`, and logSafeCode,
// which names any thrown value by a system code or a class name, never by its message.
// test/plugins/error-handler.test.ts covers how the handler turns them into replies.
import t from 'tap'
import fc from 'fast-check'
import {
  AppError, appError, logSafeCode, rateLimited, retryAfterSeconds, unauthorized, unknownUpstream,
  upstreamCredentialsRejected, upstreamUnavailable
} from '../../src/lib/errors.js'

t.test('appError: an AppError and an Error, with the given fields, and without a stack', async (t) => {
  const err = appError(418, 'BAD_REQUEST', 'short and stout', { retryAfterSeconds: 5, upstream: 'global', errorClass: 'timeout', headers: { 'x-a': '1' } })
  t.ok(err instanceof AppError)
  t.ok(err instanceof Error)
  t.equal(Object.getPrototypeOf(err), AppError.prototype)
  t.equal(err.name, 'AppError')
  t.equal(err.message, 'short and stout')
  t.equal(String(err), 'AppError: short and stout')
  t.match(err, { statusCode: 418, code: 'BAD_REQUEST', retryAfterSeconds: 5, upstream: 'global', errorClass: 'timeout', headers: { 'x-a': '1' } })
  t.equal(err.stack, undefined, 'no stack captured')
  t.notOk(Object.prototype.hasOwnProperty.call(err, 'stack'))
})

t.test('appError: absent extras are undefined', async (t) => {
  const err = appError(400, 'BAD_REQUEST', 'nope')
  t.same([err.retryAfterSeconds, err.upstream, err.errorClass, err.headers], [undefined, undefined, undefined, undefined])
})

t.test('every factory builds a stack-less AppError', async (t) => {
  for (const err of [unknownUpstream(['global']), unauthorized(), rateLimited(1000, 5), upstreamUnavailable('global', 'network', 1000), upstreamCredentialsRejected('bandwidth')]) {
    t.ok(err instanceof AppError, err.code)
    t.equal(err.stack, undefined, `${err.code}: no stack`)
  }
})

t.test('an AppError made with new, the unexpected way, keeps its stack like any Error', async (t) => {
  const err = new AppError('constructed')
  t.type(err.stack, 'string')
  t.equal(err.name, 'AppError')
})

t.test('unknownUpstream: 400 UNKNOWN_UPSTREAM, naming what is served or where per-user tokens come from', async (t) => {
  const err = unknownUpstream(['bandwidth', 'global'])
  t.match(err, { statusCode: 400, code: 'UNKNOWN_UPSTREAM', message: 'Unknown or disabled upstream; enabled upstreams: bandwidth, global' })
  t.match(unknownUpstream([]), {
    statusCode: 400,
    code: 'UNKNOWN_UPSTREAM',
    message: 'No upstream token is handed out here; per-user endpoint tokens come from POST /endpoints/webrtc'
  })
})

t.test('unauthorized: 401 UNAUTHORIZED, one message for every reason', async (t) => {
  t.match(unauthorized(), { statusCode: 401, code: 'UNAUTHORIZED', message: 'Missing or invalid credentials', retryAfterSeconds: undefined })
  t.not(unauthorized(), unauthorized(), 'a fresh object each time: no shared mutable error')
})

t.test('rateLimited: 429 RATE_LIMITED with Retry-After and the rate-limit headers', async (t) => {
  const err = rateLimited(2500, 10)
  t.match(err, { statusCode: 429, code: 'RATE_LIMITED', message: 'Rate limit exceeded; retry later', retryAfterSeconds: 3 })
  t.same(err.headers, { 'x-ratelimit-limit': '10', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '3' })
  t.same(rateLimited(0, 1).headers, { 'x-ratelimit-limit': '1', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '1' }, 'reset never 0')
  t.equal(rateLimited(3_600_000, 60).headers?.['x-ratelimit-reset'], '60', 'reset capped as Retry-After is')
})

t.test('upstreamUnavailable: 503 UPSTREAM_UNAVAILABLE with Retry-After, the upstream and the class', async (t) => {
  const err = upstreamUnavailable('global', 'throttled', 4001)
  t.match(err, {
    statusCode: 503,
    code: 'UPSTREAM_UNAVAILABLE',
    message: 'Upstream global is unavailable; retry later',
    retryAfterSeconds: 5,
    upstream: 'global',
    errorClass: 'throttled',
    headers: undefined
  })
})

t.test('upstreamCredentialsRejected: 502, naming the upstream, with no Retry-After', async (t) => {
  t.match(upstreamCredentialsRejected('bandwidth'), {
    statusCode: 502,
    code: 'UPSTREAM_CREDENTIALS_REJECTED',
    message: 'Upstream bandwidth rejected this service\'s client credentials',
    upstream: 'bandwidth',
    errorClass: 'credentials_rejected',
    retryAfterSeconds: undefined
  })
})

t.test('retryAfterSeconds: whole seconds, rounded up, at least 1 and at most 60', async (t) => {
  t.equal(retryAfterSeconds(0), 1)
  t.equal(retryAfterSeconds(-5000), 1)
  t.equal(retryAfterSeconds(1), 1)
  t.equal(retryAfterSeconds(1000), 1)
  t.equal(retryAfterSeconds(1001), 2)
  t.equal(retryAfterSeconds(59_001), 60)
  t.equal(retryAfterSeconds(60_000), 60)
  t.equal(retryAfterSeconds(60_001), 60)
  t.equal(retryAfterSeconds(Number.MAX_SAFE_INTEGER), 60)
  t.equal(retryAfterSeconds(Infinity), 60)
  t.equal(retryAfterSeconds(Number.NaN), 1, 'a wait that is not a number: the shortest')
  t.doesNotThrow(() => {
    fc.assert(fc.property(fc.integer({ min: -1e9, max: 1e9 }), (ms) => {
      const s = retryAfterSeconds(ms)
      return Number.isInteger(s) && s >= 1 && s <= 60 && (ms <= 0 || ms > 60_000 || s * 1000 >= ms)
    }))
  })
})

t.test('logSafeCode: a system code, from the error or its cause', async (t) => {
  t.equal(logSafeCode(Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:443'), { code: 'ECONNREFUSED' })), 'ECONNREFUSED')
  const undici = new TypeError('fetch failed', { cause: Object.assign(new Error('getaddrinfo ENOTFOUND idp.example.com'), { code: 'ENOTFOUND' }) })
  t.equal(logSafeCode(undici), 'ENOTFOUND', 'from the cause, as undici reports it')
  const deep = new Error('a', { cause: new Error('b', { cause: Object.assign(new Error('c'), { code: 'UND_ERR_SOCKET' }) }) })
  t.equal(logSafeCode(deep), 'UND_ERR_SOCKET', 'two causes down')
  t.equal(logSafeCode({ code: 'ETIMEDOUT' }), 'ETIMEDOUT', 'a plain object with a code')
  t.equal(logSafeCode(Object.assign(new Error('x'), { code: 'E_OUTER' }, { cause: { code: 'EINNER' } })), 'E_OUTER', 'the outermost code wins')
})

t.test('logSafeCode: looks no further than two causes down, and survives a cycle', async (t) => {
  const tooDeep = new Error('a', { cause: new Error('b', { cause: new Error('c', { cause: { code: 'EDEEP' } }) }) })
  t.equal(logSafeCode(tooDeep), 'Error')
  const cyclic: { cause?: unknown } & Error = new Error('loop')
  cyclic.cause = cyclic
  t.equal(logSafeCode(cyclic), 'Error')
})

t.test('logSafeCode: a code that is not a safe word is ignored', async (t) => {
  for (const code of ['econnrefused', 'E CONN', 'ECONN\nREFUSED', '1ABC', '', `E${'X'.repeat(40)}`, 'key=sk-secret', 'ERR-1']) {
    t.equal(logSafeCode(Object.assign(new Error('m'), { code })), 'Error', JSON.stringify(code))
  }
  t.equal(logSafeCode(Object.assign(new Error('m'), { code: 20 })), 'Error', 'a numeric code (DOMException) is no word')
  t.equal(logSafeCode(Object.assign(new Error('m'), { code: `E${'X'.repeat(39)}` })), `E${'X'.repeat(39)}`, '40 characters is the longest')
})

t.test('logSafeCode: else the class name, when it is a safe word', async (t) => {
  t.equal(logSafeCode(new TypeError('Cannot read properties of undefined (reading "secret")')), 'TypeError')
  t.equal(logSafeCode(new DOMException('This operation was aborted', 'AbortError')), 'AbortError')
  t.equal(logSafeCode(unauthorized()), 'UNAUTHORIZED', 'an AppError names itself by its code')
  class CustomFailure extends Error {}
  CustomFailure.prototype.name = 'CustomFailure'
  t.equal(logSafeCode(new CustomFailure('x')), 'CustomFailure')
  for (const name of ['Bearer eyJhbGciOi', 'Error: token=abc', '', '1Error', 'a'.repeat(41), 'Erreur-é']) {
    t.equal(logSafeCode(Object.assign(new Error('m'), { name })), 'Error', JSON.stringify(name))
  }
})

t.test('logSafeCode: never the message, whatever is thrown', async (t) => {
  const marker = 'SECRETMARKER'
  t.equal(logSafeCode(marker), 'string', 'a thrown string is named by its type')
  t.equal(logSafeCode(undefined), 'undefined')
  t.equal(logSafeCode(null), 'object')
  t.equal(logSafeCode(42), 'number')
  t.equal(logSafeCode({ message: marker, name: marker }), 'object', 'a plain object\'s name is not trusted')
  t.doesNotThrow(() => {
    fc.assert(fc.property(fc.anything(), fc.string(), (thrown, message) => {
      const word = logSafeCode(thrown)
      const fromError = logSafeCode(new Error(`${marker}${message}`))
      return /^[A-Za-z][A-Za-z0-9_]{0,39}$/.test(word) && fromError === 'Error'
    }))
  })
})
