// Problems name variables, never values: feed every variable a distinctive value that is
// wrong in some way, and look for any of those values (or a recognisable part of one) in the
// problems, the message, the error's JSON and util.inspect output.
import { inspect } from 'node:util'
import t, { type Test } from 'tap'
import type { ConfigError } from '../../src/config/load-config.js'
import { configError } from '../helpers/config-env.js'

/** Each value contains a marker that must not appear in any output. */
const MARK = 'LEAKCANARY'

function outputs (err: ConfigError): string {
  return [
    ...err.problems,
    err.message,
    String(err),
    err.stack,
    JSON.stringify(err),
    JSON.stringify({ ...err, message: err.message }),
    inspect(err, { depth: 10, showHidden: true }),
  ].join('\n')
}

function assertNoLeak (t: Test, err: ConfigError, values: Record<string, string | undefined>) {
  const text = outputs(err)
  t.notMatch(text, MARK, 'no marker anywhere')
  t.notMatch(text.toLowerCase(), MARK.toLowerCase(), 'not even lowercased')
  for (const [name, value] of Object.entries(values)) {
    for (const piece of (value ?? '').split(/[\s,:/@.?=&_-]+/)) {
      if (piece.includes(MARK)) t.notOk(text.includes(piece), `no part of ${name}`)
    }
  }
}

t.test('every variable wrong at once: no value in any output', async t => {
  const env = {
    PORT: `80${MARK}`,
    HOST: `bad host ${MARK}`,
    LOG_LEVEL: `${MARK}`,
    BANDWIDTH_CLIENT_ID: `id:${MARK}`,
    BANDWIDTH_CLIENT_SECRET: `secret-${MARK}\n`,
    BANDWIDTH_TOKEN_URL: `https://user-${MARK}:pw-${MARK}@idp.example.com/token`,
    BANDWIDTH_EXPIRY_MARGIN_SECONDS: `${MARK}`,
    GLOBAL_WEBRTC_CLIENT_SECRET: `gl-secret-${MARK}`,
    GLOBAL_WEBRTC_TOKEN_URL: `ftp://${MARK}.example.com/`,
    GLOBAL_WEBRTC_SCOPE: `"${MARK}"`,
    GLOBAL_WEBRTC_EXPIRY_MARGIN_SECONDS: '99999',
    DEFAULT_UPSTREAM: `${MARK}`,
    TOKEN_REFRESH_AT: `0.${MARK}`,
    UPSTREAM_TIMEOUT_MS: `${MARK}`,
    API_KEYS: [
      `${MARK}short:${MARK}`,
      `${MARK}-no-colon-${'x'.repeat(40)}`,
      `:${MARK}${'y'.repeat(40)}`,
      `bad name ${MARK}:${'z'.repeat(40)}`,
      `ok:sha256:${MARK}`,
      `${MARK}a:${MARK}${'k'.repeat(40)}`,
      `${MARK}b:${MARK}${'k'.repeat(40)}`,
      `${MARK}c:${MARK} ${'w'.repeat(40)}`,
      `${MARK}d:`,
    ].join(','),
    AUTH_JWKS_URL: `${MARK}://jwks`,
    AUTH_ISSUER: `issuer-${MARK}\u0001`,
    CORS_ORIGINS: `https://${MARK}.example.com/, *.${MARK}, null, ${MARK}`,
    RATE_LIMIT_MAX: `-${MARK}`,
    RATE_LIMIT_WINDOW_MS: `${MARK}`,
    REDIS_URL: `http://:${MARK}@redis:6379`,
    TRUST_PROXY: `10.0.0.1, ${MARK}, 10.0.0.0/${MARK}`,
  }
  const err = configError(env)
  t.ok(err.problems.length >= 25, `many problems (${err.problems.length})`)
  assertNoLeak(t, err, env)
})

t.test('swapped key:name in API_KEYS: the key looks like a name and is still not echoed', async t => {
  const key = `${MARK}0123456789abcdefghij`
  const env = { BANDWIDTH_CLIENT_ID: 'a', BANDWIDTH_CLIENT_SECRET: 'b', API_KEYS: `${key}:alice` }
  const err = configError(env)
  t.same(err.problems, ['API_KEYS: entry 1 has a key of fewer than 32 characters'])
  assertNoLeak(t, err, env)
})

t.test('file paths and file contents are never echoed', async t => {
  const env = {
    BANDWIDTH_CLIENT_ID_FILE: `/run/${MARK}/id`,
    BANDWIDTH_CLIENT_SECRET_FILE: `/run/${MARK}/secret`,
    GLOBAL_WEBRTC_CLIENT_ID_FILE: `/run/${MARK}/gl-id`,
    GLOBAL_WEBRTC_CLIENT_SECRET: `plain-${MARK}`,
    GLOBAL_WEBRTC_CLIENT_SECRET_FILE: `/run/${MARK}/gl-secret`,
    API_KEYS_FILE: `/run/${MARK}/keys`,
    REDIS_URL_FILE: `/run/${MARK}/redis`,
  }
  const contents: Record<string, string> = {
    [`/run/${MARK}/id`]: `id:${MARK}`,
    [`/run/${MARK}/gl-id`]: `${MARK}\u0000`,
    [`/run/${MARK}/keys`]: `${MARK}:${MARK}`,
    [`/run/${MARK}/redis`]: `https://:${MARK}@redis`,
  }
  const err = configError(env, {
    readFile: path => {
      const content = contents[path]
      if (content === undefined) throw Object.assign(new Error(`ENOENT: open '${path}'`), { code: 'ENOENT', path })
      return content
    },
  })
  t.ok(err.problems.length >= 5, `many problems (${err.problems.length})`)
  assertNoLeak(t, err, env)
  assertNoLeak(t, err, contents)
})

t.test('the error carries no cause or extra properties holding values', async t => {
  const err = configError({ BANDWIDTH_CLIENT_SECRET: `s-${MARK}` })
  t.equal(err.cause, undefined)
  t.same(Object.keys(err).sort(), ['name', 'problems'])
})
