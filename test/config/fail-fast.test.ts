// The contract's fail-fast list: each problem is one line naming the variable, and all of
// them are reported together.
import t from 'tap'
import { ConfigError, loadConfig } from '../../src/config/load-config.js'
import { AUTH, BOTH_UPSTREAMS, MINIMAL, problems, configError } from '../helpers/config-env.js'

const { API_KEYS: _keys, ...NO_AUTH } = MINIMAL
const { BANDWIDTH_CLIENT_ID: _id, BANDWIDTH_CLIENT_SECRET: _secret, ...NO_UPSTREAM } = MINIMAL

t.test('ConfigError carries one line per problem and joins them as its message', async t => {
  const err = configError({})
  t.ok(err instanceof Error)
  t.equal(err.name, 'ConfigError')
  t.equal(err.message, err.problems.join('\n'))
  t.same(err.problems, [
    'no upstream enabled: set BANDWIDTH_CLIENT_ID and BANDWIDTH_CLIENT_SECRET and/or GLOBAL_WEBRTC_CLIENT_ID and GLOBAL_WEBRTC_CLIENT_SECRET',
    'no authentication method configured: set API_KEYS and/or AUTH_JWKS_URL, AUTH_ISSUER, AUTH_AUDIENCE',
  ])
  const copy = new ConfigError(['a'])
  t.same(copy.problems, ['a'])
})

t.test('no upstream enabled', async t => {
  t.same(problems(NO_UPSTREAM), [
    'no upstream enabled: set BANDWIDTH_CLIENT_ID and BANDWIDTH_CLIENT_SECRET and/or GLOBAL_WEBRTC_CLIENT_ID and GLOBAL_WEBRTC_CLIENT_SECRET',
  ])
})

t.test('half a client id/secret pair names the missing half', async t => {
  t.same(problems({ ...NO_UPSTREAM, BANDWIDTH_CLIENT_ID: 'x' }), [
    'BANDWIDTH_CLIENT_SECRET: must be set (or BANDWIDTH_CLIENT_SECRET_FILE) when BANDWIDTH_CLIENT_ID is set, to enable the bandwidth upstream',
  ], 'and no extra "no upstream" line')
  t.same(problems({ ...MINIMAL, GLOBAL_WEBRTC_CLIENT_SECRET: 'x' }), [
    'GLOBAL_WEBRTC_CLIENT_ID: must be set (or GLOBAL_WEBRTC_CLIENT_ID_FILE) when GLOBAL_WEBRTC_CLIENT_SECRET is set, to enable the global upstream',
  ], 'even when the other upstream is fine')
})

t.test('no authentication method', async t => {
  t.same(problems(NO_AUTH), [
    'no authentication method configured: set API_KEYS and/or AUTH_JWKS_URL, AUTH_ISSUER, AUTH_AUDIENCE',
  ])
})

t.test('a partial AUTH_* set names each missing variable', async t => {
  t.same(problems({ ...NO_AUTH, AUTH_ISSUER: AUTH.AUTH_ISSUER }), [
    'AUTH_JWKS_URL: must be set when AUTH_ISSUER is set: set all of AUTH_JWKS_URL, AUTH_ISSUER, AUTH_AUDIENCE or none',
    'AUTH_AUDIENCE: must be set when AUTH_ISSUER is set: set all of AUTH_JWKS_URL, AUTH_ISSUER, AUTH_AUDIENCE or none',
  ])
  t.same(problems({ ...MINIMAL, AUTH_JWKS_URL: AUTH.AUTH_JWKS_URL, AUTH_AUDIENCE: 'aud' }), [
    'AUTH_ISSUER: must be set when AUTH_JWKS_URL and AUTH_AUDIENCE are set: set all of AUTH_JWKS_URL, AUTH_ISSUER, AUTH_AUDIENCE or none',
  ], 'also when API_KEYS is configured')
})

t.test('DEFAULT_UPSTREAM missing, disabled or unknown', async t => {
  t.same(problems(BOTH_UPSTREAMS), [
    'DEFAULT_UPSTREAM: must be set when more than one upstream is enabled (bandwidth, global)',
  ])
  t.same(problems({ ...MINIMAL, DEFAULT_UPSTREAM: 'global' }), [
    'DEFAULT_UPSTREAM: must name an enabled upstream (enabled: bandwidth)',
  ])
  t.same(problems({ ...BOTH_UPSTREAMS, DEFAULT_UPSTREAM: 'Bandwidth' }), [
    'DEFAULT_UPSTREAM: must be one of bandwidth, global',
  ], 'unknown: exact lowercase ids only, and no second "must be set" line')
  t.same(problems({ ...NO_UPSTREAM, DEFAULT_UPSTREAM: 'global' }), [
    'no upstream enabled: set BANDWIDTH_CLIENT_ID and BANDWIDTH_CLIENT_SECRET and/or GLOBAL_WEBRTC_CLIENT_ID and GLOBAL_WEBRTC_CLIENT_SECRET',
  ], 'with nothing enabled, only that is reported')
})

t.test('a bad URL', async t => {
  const httpUrl = 'must be an absolute http: or https: URL with a host'
  t.same(problems({ ...MINIMAL, BANDWIDTH_TOKEN_URL: 'not a url' }), [`BANDWIDTH_TOKEN_URL: ${httpUrl}`])
  t.same(problems({ ...MINIMAL, GLOBAL_WEBRTC_TOKEN_URL: 'ftp://id.example.com/token' }), [`GLOBAL_WEBRTC_TOKEN_URL: ${httpUrl}`],
    'checked even for a disabled upstream')
  t.same(problems({ ...MINIMAL, BANDWIDTH_TOKEN_URL: 'https://user:pw@id.example.com/token' }), ['BANDWIDTH_TOKEN_URL: must not contain credentials'])
  t.same(problems({ ...MINIMAL, BANDWIDTH_TOKEN_URL: 'https://user@id.example.com/token' }), ['BANDWIDTH_TOKEN_URL: must not contain credentials'])
  t.same(problems({ ...MINIMAL, BANDWIDTH_TOKEN_URL: 'https://id.example.com/\n' }), ['BANDWIDTH_TOKEN_URL: must be a URL without control characters'])
  t.same(problems({ ...MINIMAL, REDIS_URL: 'redis://:pw@redis:6379\t' }), ['REDIS_URL: must be a URL without control characters'],
    'a stray tab is named as what it is, not as credentials (REDIS_URL may carry a password)')
  t.same(problems({ ...MINIMAL, ...AUTH, AUTH_JWKS_URL: 'file:///etc/jwks.json' }), [`AUTH_JWKS_URL: ${httpUrl}`])
  t.same(problems({ ...MINIMAL, REDIS_URL: 'http://redis:6379' }), ['REDIS_URL: must be an absolute redis: or rediss: URL with a host'])
  t.same(problems({ ...MINIMAL, REDIS_URL: 'redis://' }), ['REDIS_URL: must be an absolute redis: or rediss: URL with a host'])
  // ioredis percent-decodes the user name and password and throws on a stray `%`.
  const badEncoding = 'REDIS_URL: has a user name or password that is not valid percent-encoding (write % as %25)'
  t.same(problems({ ...MINIMAL, REDIS_URL: 'redis://:p%4ss@redis:6379' }), [badEncoding])
  t.same(problems({ ...MINIMAL, REDIS_URL: 'redis://us%er:pw@redis:6379' }), [badEncoding])
  t.same(problems({ ...MINIMAL, REDIS_URL: 'redis://redis:6379/cache' }), ['REDIS_URL: has a path that is not a database number'])
  t.same(problems({ ...MINIMAL, REDIS_URL: 'redis://redis:6379/1/2' }), ['REDIS_URL: has a path that is not a database number'])
  for (const url of ['redis://:p%25ss@redis:6379', 'rediss://user:pw@redis:6380/', 'redis://redis:6379/15', 'redis://redis']) {
    t.equal(loadConfig({ ...MINIMAL, REDIS_URL: url }).redisUrl?.reveal(), url, url)
  }
})

t.test('a number that does not parse or is out of range', async t => {
  const cases: Array<[string, string, string]> = [
    ['PORT', '12abc', 'an integer from 0 to 65535'],
    ['PORT', '', 'an integer from 0 to 65535'],
    ['PORT', ' 8080', 'an integer from 0 to 65535'],
    ['PORT', '-1', 'an integer from 0 to 65535'],
    ['PORT', '8080.0', 'an integer from 0 to 65535'],
    ['PORT', '1e3', 'an integer from 0 to 65535'],
    ['PORT', '0x50', 'an integer from 0 to 65535'],
    ['PORT', '65536', 'an integer from 0 to 65535'],
    ['PORT', '99999999999', 'an integer from 0 to 65535'],
    ['BANDWIDTH_EXPIRY_MARGIN_SECONDS', '3601', 'an integer from 0 to 3600'],
    ['GLOBAL_WEBRTC_EXPIRY_MARGIN_SECONDS', 'ten', 'an integer from 0 to 3600'],
    ['UPSTREAM_TIMEOUT_MS', '99', 'an integer from 100 to 60000'],
    ['UPSTREAM_TIMEOUT_MS', '60001', 'an integer from 100 to 60000'],
    ['RATE_LIMIT_MAX', '0', 'an integer from 1 to 2147483647'],
    ['RATE_LIMIT_WINDOW_MS', '999', 'an integer from 1000 to 2147483647'],
    ['RATE_LIMIT_WINDOW_MS', '2147483648', 'an integer from 1000 to 2147483647'],
    ['TOKEN_REFRESH_AT', '0', 'a decimal fraction strictly between 0 and 1, such as 0.8'],
    ['TOKEN_REFRESH_AT', '0.0', 'a decimal fraction strictly between 0 and 1, such as 0.8'],
    ['TOKEN_REFRESH_AT', '1', 'a decimal fraction strictly between 0 and 1, such as 0.8'],
    ['TOKEN_REFRESH_AT', '1.0', 'a decimal fraction strictly between 0 and 1, such as 0.8'],
    ['TOKEN_REFRESH_AT', '80%', 'a decimal fraction strictly between 0 and 1, such as 0.8'],
    ['TOKEN_REFRESH_AT', '', 'a decimal fraction strictly between 0 and 1, such as 0.8'],
  ]
  for (const [name, value, expected] of cases) {
    t.same(problems({ ...MINIMAL, [name]: value }), [`${name}: must be ${expected}`], `${name}=${JSON.stringify(value)}`)
  }
})

t.test('other shape checks', async t => {
  t.same(problems({ ...MINIMAL, LOG_LEVEL: 'verbose' }), ['LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent'])
  t.same(problems({ ...MINIMAL, HOST: 'my host' }), ['HOST: must be a host name or IP address'])
  t.same(problems({ ...MINIMAL, BANDWIDTH_CLIENT_ID: 'a:b' }), ['BANDWIDTH_CLIENT_ID: must be a non-empty string without ":" or control characters'])
  t.same(problems({ ...MINIMAL, BANDWIDTH_CLIENT_SECRET: 'abc\n' }), ['BANDWIDTH_CLIENT_SECRET: must be a non-empty string without control characters'])
  t.same(problems({ ...MINIMAL, GLOBAL_WEBRTC_SCOPE: 'voice.webrtc  extra' }), ['GLOBAL_WEBRTC_SCOPE: must be one or more space-separated OAuth scope tokens'])
  t.same(problems({ ...MINIMAL, ...AUTH, AUTH_AUDIENCE: 'a\tb' }), ['AUTH_AUDIENCE: must be a non-empty string without control characters'])
  t.same(problems({ ...MINIMAL, TRUST_PROXY: '10.0.0.1\n' }), ['TRUST_PROXY: must be true, false, a hop count, or comma-separated IP addresses/CIDR ranges'])
  t.same(problems({ ...MINIMAL, CORS_ORIGINS: 'https://a.example.com\r' }), ['CORS_ORIGINS: must be comma-separated exact origins such as https://app.example.com'])
})

t.test('many problems at once are all reported, in one error', async t => {
  const err = configError({
    PORT: 'eighty',
    LOG_LEVEL: 'loud',
    BANDWIDTH_CLIENT_ID: 'only-half',
    GLOBAL_WEBRTC_TOKEN_URL: 'nope',
    TOKEN_REFRESH_AT: '2',
    AUTH_JWKS_URL: 'https://idp.example.com/jwks',
    CORS_ORIGINS: '*',
    TRUST_PROXY: 'maybe',
    REDIS_URL: 'memcached://x',
    RATE_LIMIT_MAX: '0',
  })
  t.same(err.problems, [
    'PORT: must be an integer from 0 to 65535',
    'LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent',
    'TOKEN_REFRESH_AT: must be a decimal fraction strictly between 0 and 1, such as 0.8',
    'RATE_LIMIT_MAX: must be an integer from 1 to 2147483647',
    'BANDWIDTH_CLIENT_SECRET: must be set (or BANDWIDTH_CLIENT_SECRET_FILE) when BANDWIDTH_CLIENT_ID is set, to enable the bandwidth upstream',
    'GLOBAL_WEBRTC_TOKEN_URL: must be an absolute http: or https: URL with a host',
    'AUTH_ISSUER: must be set when AUTH_JWKS_URL is set: set all of AUTH_JWKS_URL, AUTH_ISSUER, AUTH_AUDIENCE or none',
    'AUTH_AUDIENCE: must be set when AUTH_JWKS_URL is set: set all of AUTH_JWKS_URL, AUTH_ISSUER, AUTH_AUDIENCE or none',
    'CORS_ORIGINS: entry 1 is a wildcard, which is refused: list exact origins',
    'TRUST_PROXY: entry 1 is not an IP address or CIDR range (TRUST_PROXY must be true, false, a hop count, or comma-separated IP addresses/CIDR ranges)',
    'REDIS_URL: must be an absolute redis: or rediss: URL with a host',
  ])
  t.equal(err.message.split('\n').length, err.problems.length)
})

t.test('token and JWKS URLs must be https unless the host is loopback', async (t) => {
  const remote = problems({
    ...MINIMAL,
    BANDWIDTH_TOKEN_URL: 'http://id.example.com/api/v1/oauth2/token',
    AUTH_JWKS_URL: 'http://idp.example.com/jwks.json',
    AUTH_ISSUER: 'https://idp.example.com/',
    AUTH_AUDIENCE: 'tokens'
  })
  t.same(remote, [
    'BANDWIDTH_TOKEN_URL: must use https (plain http is allowed only for a loopback host)',
    'AUTH_JWKS_URL: must use https (plain http is allowed only for a loopback host)'
  ])
  for (const host of ['127.0.0.1:4000', 'localhost:4000', '[::1]:4000', '127.1.2.3']) {
    const config = loadConfig({ ...MINIMAL, BANDWIDTH_TOKEN_URL: `http://${host}/token` })
    t.equal(config.upstreams[0]?.tokenUrl.protocol, 'http:', host)
  }
})
