// loadConfig on valid environments: defaults, both upstreams, overrides, and what is a Secret.
import { inspect } from 'node:util'
import t from 'tap'
import { loadConfig } from '../../src/config/load-config.js'
import { Secret, sha256 } from '../../src/lib/secret.js'
import { AUTH, BOTH_UPSTREAMS, KEY_A, MINIMAL } from '../helpers/config-env.js'

t.test('minimal environment gets the contract defaults', async t => {
  const config = loadConfig(MINIMAL)
  t.equal(config.port, 8080)
  t.equal(config.host, '0.0.0.0')
  t.equal(config.logLevel, 'info')
  t.equal(config.defaultUpstream, 'bandwidth')
  t.equal(config.tokenRefreshAt, 0.8)
  t.equal(config.upstreamTimeoutMs, 5000)
  t.same(config.rateLimit, { max: 60, windowMs: 60000 })
  t.same(config.corsOrigins, [])
  t.equal(config.trustProxy, false)
  t.equal(config.redisUrl, undefined)
  t.equal(config.jwt, undefined)
  t.equal(config.upstreams.length, 1)
  const [bandwidth] = config.upstreams
  t.equal(bandwidth?.id, 'bandwidth')
  t.equal(bandwidth?.tokenUrl.href, 'https://id.bandwidth.com/api/v1/oauth2/token')
  t.equal(bandwidth?.clientId, 'bw-id')
  t.ok(bandwidth?.clientSecret instanceof Secret)
  t.equal(bandwidth?.clientSecret.reveal(), 'bw-secret')
  t.equal(bandwidth?.scope, undefined)
  t.equal(bandwidth?.expiryMarginSeconds, 10)
  t.same(config.apiKeys.map(k => k.name), ['alice'])
  t.ok(config.apiKeys[0]?.sha256.equals(sha256(KEY_A)))
})

t.test('global alone is the default upstream, with its scope and margin', async t => {
  const config = loadConfig({ GLOBAL_WEBRTC_CLIENT_ID: 'gl-id', GLOBAL_WEBRTC_CLIENT_SECRET: 'gl-secret', API_KEYS: MINIMAL.API_KEYS })
  t.equal(config.defaultUpstream, 'global')
  t.same(config.upstreams.map(u => u.id), ['global'])
  const [global] = config.upstreams
  t.equal(global?.tokenUrl.href, 'https://id.voxbone.com/api/v1/oauth2/token')
  t.equal(global?.scope, 'voice.webrtc')
  t.equal(global?.expiryMarginSeconds, 30)
})

t.test('both upstreams with DEFAULT_UPSTREAM, in UPSTREAM_SPECS order (bandwidth, global)', async t => {
  for (const id of ['bandwidth', 'global'] as const) {
    const config = loadConfig({ ...BOTH_UPSTREAMS, DEFAULT_UPSTREAM: id })
    t.equal(config.defaultUpstream, id)
    t.same(config.upstreams.map(u => u.id), ['bandwidth', 'global'])
  }
})

t.test('DEFAULT_UPSTREAM may name the only enabled upstream', async t => {
  t.equal(loadConfig({ ...MINIMAL, DEFAULT_UPSTREAM: 'bandwidth' }).defaultUpstream, 'bandwidth')
})

t.test('every variable can be overridden', async t => {
  const config = loadConfig({
    ...BOTH_UPSTREAMS,
    ...AUTH,
    PORT: '0',
    HOST: '::',
    LOG_LEVEL: 'silent',
    BANDWIDTH_TOKEN_URL: 'http://127.0.0.1:9000/bw/token',
    BANDWIDTH_EXPIRY_MARGIN_SECONDS: '0',
    GLOBAL_WEBRTC_TOKEN_URL: 'http://127.0.0.1:9000/gl/token?x=1',
    GLOBAL_WEBRTC_SCOPE: 'voice.webrtc extra:scope',
    GLOBAL_WEBRTC_EXPIRY_MARGIN_SECONDS: '3600',
    DEFAULT_UPSTREAM: 'global',
    TOKEN_REFRESH_AT: '.5',
    UPSTREAM_TIMEOUT_MS: '100',
    CORS_ORIGINS: 'https://app.example.com, http://localhost:5173',
    RATE_LIMIT_MAX: '1',
    RATE_LIMIT_WINDOW_MS: '1000',
    REDIS_URL: 'rediss://:p%40ss@redis.internal:6380/2',
    TRUST_PROXY: '2',
  })
  t.equal(config.port, 0)
  t.equal(config.host, '::')
  t.equal(config.logLevel, 'silent')
  t.equal(config.upstreams[0]?.tokenUrl.href, 'http://127.0.0.1:9000/bw/token')
  t.equal(config.upstreams[0]?.expiryMarginSeconds, 0)
  t.equal(config.upstreams[1]?.tokenUrl.href, 'http://127.0.0.1:9000/gl/token?x=1')
  t.equal(config.upstreams[1]?.scope, 'voice.webrtc extra:scope')
  t.equal(config.upstreams[1]?.expiryMarginSeconds, 3600)
  t.equal(config.defaultUpstream, 'global')
  t.equal(config.tokenRefreshAt, 0.5)
  t.equal(config.upstreamTimeoutMs, 100)
  t.same(config.corsOrigins, ['https://app.example.com', 'http://localhost:5173'])
  t.same(config.rateLimit, { max: 1, windowMs: 1000 })
  t.equal(config.redisUrl?.reveal(), 'rediss://:p%40ss@redis.internal:6380/2', 'kept exactly as written')
  t.equal(config.trustProxy, 2)
  t.same(config.jwt && { jwksUrl: config.jwt.jwksUrl.href, issuer: config.jwt.issuer, audience: config.jwt.audience }, {
    jwksUrl: AUTH.AUTH_JWKS_URL,
    issuer: AUTH.AUTH_ISSUER,
    audience: AUTH.AUTH_AUDIENCE,
  })
})

t.test('JWT auth alone is enough; API keys are then empty', async t => {
  const { API_KEYS: _, ...withoutKeys } = MINIMAL
  const config = loadConfig({ ...withoutKeys, ...AUTH })
  t.same(config.apiKeys, [])
  t.equal(config.jwt?.issuer, AUTH.AUTH_ISSUER)
})

t.test('empty strings count as unset for non-numeric variables', async t => {
  const config = loadConfig({
    ...MINIMAL,
    HOST: '',
    LOG_LEVEL: '',
    GLOBAL_WEBRTC_CLIENT_ID: '',
    GLOBAL_WEBRTC_CLIENT_SECRET: '',
    DEFAULT_UPSTREAM: '',
    AUTH_JWKS_URL: '',
    AUTH_ISSUER: '',
    AUTH_AUDIENCE: '',
    CORS_ORIGINS: '',
    REDIS_URL: '',
    TRUST_PROXY: '',
    BANDWIDTH_TOKEN_URL: '',
  })
  t.equal(config.host, '0.0.0.0')
  t.equal(config.logLevel, 'info')
  t.same(config.upstreams.map(u => u.id), ['bandwidth'])
  t.equal(config.upstreams[0]?.tokenUrl.href, 'https://id.bandwidth.com/api/v1/oauth2/token')
  t.equal(config.jwt, undefined)
  t.equal(config.redisUrl, undefined)
  t.equal(config.trustProxy, false)
})

t.test('unknown variables are ignored, as are *_FILE forms of variables that have none', async t => {
  const config = loadConfig({ ...MINIMAL, HOME: '/root', PORT_FILE: '/nope', AUTH_ISSUER_FILE: '/nope' }, {
    readFile: () => { throw new Error('must not read') },
  })
  t.equal(config.port, 8080)
})

t.test('secrets print as placeholders in the whole config', async t => {
  const config = loadConfig({ ...BOTH_UPSTREAMS, DEFAULT_UPSTREAM: 'global', REDIS_URL: 'redis://:hunter2-redis@r:6379' })
  const printed = JSON.stringify(config) + inspect(config, { depth: 10 }) + String(config.redisUrl)
  for (const secret of ['bw-secret', 'gl-secret', 'hunter2-redis', KEY_A]) t.notMatch(printed, secret)
})

t.test('default file reader reads real files (t.testdir)', async t => {
  const dir = t.testdir({ secret: 'from-a-file\n', keys: `alice:${KEY_A}\n` })
  const config = loadConfig({
    BANDWIDTH_CLIENT_ID: 'bw-id',
    BANDWIDTH_CLIENT_SECRET_FILE: `${dir}/secret`,
    API_KEYS_FILE: `${dir}/keys`,
  })
  t.equal(config.upstreams[0]?.clientSecret.reveal(), 'from-a-file')
  t.same(config.apiKeys.map(k => k.name), ['alice'])
})
