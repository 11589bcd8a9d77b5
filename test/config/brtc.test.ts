// The BRTC_* settings of per-user endpoint tokens: defaults and parsing, and the two startup
// refusals of the mode: without the bandwidth upstream (whose token authorises the Endpoints API)
// and with an Endpoints API URL that is plain http to another host; and the account-wide
// bandwidth token kept off /token/webrtc (DEFAULT_UPSTREAM may not name it). Each problem is one
// line that names the variable and never its value.
import t from 'tap'
import { loadConfig } from '../../src/config/load-config.js'
import { BOTH_UPSTREAMS, MINIMAL, problems } from '../helpers/config-env.js'

const { BANDWIDTH_CLIENT_ID: _id, BANDWIDTH_CLIENT_SECRET: _secret, ...NO_BANDWIDTH } = BOTH_UPSTREAMS
const GLOBAL_ONLY = { ...NO_BANDWIDTH, DEFAULT_UPSTREAM: undefined }

t.test('off unless BRTC_ACCOUNT_ID is set, whatever else is', async (t) => {
  t.equal(loadConfig(MINIMAL).brtc, undefined)
  t.equal(loadConfig({ ...MINIMAL, BRTC_API_URL: 'https://api.example.com/v2', BRTC_MAX_ENDPOINTS_PER_CALLER: '3' }).brtc, undefined)
})

t.test('defaults: the production API, 5 endpoints per caller, a sweep every 300 s', async (t) => {
  const brtc = loadConfig({ ...MINIMAL, BRTC_ACCOUNT_ID: '9900000' }).brtc
  t.equal(brtc?.accountId, '9900000')
  t.equal(brtc?.apiUrl.href, 'https://api.bandwidth.com/v2')
  t.equal(brtc?.eventCallbackUrl, undefined)
  t.equal(brtc?.maxEndpointsPerCaller, 5)
  t.equal(brtc?.sweepIntervalSeconds, 300)
})

t.test('every setting, and a trailing slash dropped from the API URL', async (t) => {
  const brtc = loadConfig({
    ...MINIMAL,
    BRTC_ACCOUNT_ID: '12345',
    BRTC_API_URL: 'http://127.0.0.1:4010/v2/',
    BRTC_EVENT_CALLBACK_URL: 'https://app.example.com/brtc-events',
    BRTC_MAX_ENDPOINTS_PER_CALLER: '2',
    BRTC_SWEEP_INTERVAL_SECONDS: '30'
  }).brtc
  t.equal(brtc?.apiUrl.href, 'http://127.0.0.1:4010/v2', 'plain http is fine on loopback (the emulator)')
  t.equal(brtc?.eventCallbackUrl?.href, 'https://app.example.com/brtc-events')
  t.equal(brtc?.maxEndpointsPerCaller, 2)
  t.equal(brtc?.sweepIntervalSeconds, 30)
})

t.test('refused: BRTC_ACCOUNT_ID without the bandwidth upstream', async (t) => {
  t.same(problems({ ...GLOBAL_ONLY, BRTC_ACCOUNT_ID: '9900000' }), [
    'BRTC_ACCOUNT_ID: requires the bandwidth upstream, whose token authorises the Endpoints API: set BANDWIDTH_CLIENT_ID and BANDWIDTH_CLIENT_SECRET'
  ])
  t.ok(loadConfig({ ...BOTH_UPSTREAMS, DEFAULT_UPSTREAM: 'global', BRTC_ACCOUNT_ID: '9900000' }).brtc, 'with both upstreams it loads')
})

t.test('the bandwidth token is never handed out on /token/webrtc in the mode, so it cannot be the default', async (t) => {
  t.same(loadConfig({ ...BOTH_UPSTREAMS, DEFAULT_UPSTREAM: 'global' }).tokenUpstreams, ['bandwidth', 'global'], 'without the mode: every enabled upstream')
  t.same(loadConfig({ ...BOTH_UPSTREAMS, DEFAULT_UPSTREAM: 'global', BRTC_ACCOUNT_ID: '9900000' }).tokenUpstreams, ['global'])
  t.same(loadConfig({ ...MINIMAL, BRTC_ACCOUNT_ID: '9900000' }).tokenUpstreams, [], 'bandwidth alone: endpoint tokens only')
  const refusal = 'DEFAULT_UPSTREAM: must not be bandwidth when BRTC_ACCOUNT_ID is set: the bandwidth token is account-wide and stays on the server (name global, or use /endpoints/webrtc)'
  t.same(problems({ ...BOTH_UPSTREAMS, DEFAULT_UPSTREAM: 'bandwidth', BRTC_ACCOUNT_ID: '9900000' }), [refusal])
  t.same(problems({ ...MINIMAL, DEFAULT_UPSTREAM: 'bandwidth', BRTC_ACCOUNT_ID: '9900000' }), [refusal], 'even when it is the only one')
})

t.test('refused: a plain-http BRTC_API_URL to a host that is not loopback', async (t) => {
  const account = { ...MINIMAL, BRTC_ACCOUNT_ID: '9900000' }
  t.same(problems({ ...account, BRTC_API_URL: 'http://api.bandwidth.com/v2' }), [
    'BRTC_API_URL: must use https (plain http is allowed only for a loopback host)'
  ])
  t.same(problems({ ...account, BRTC_API_URL: 'http://10.0.0.8:8080/v2' }), [
    'BRTC_API_URL: must use https (plain http is allowed only for a loopback host)'
  ], 'a private address is still a network')
  for (const loopback of ['http://localhost:4010/v2', 'http://127.0.0.1:4010/v2', 'http://[::1]:4010/v2']) {
    t.equal(loadConfig({ ...account, BRTC_API_URL: loopback }).brtc?.accountId, '9900000', loopback)
  }
})

t.test('BRTC_ACCOUNT_ID is decimal digits, as the Endpoints API requires', async (t) => {
  for (const id of ['acct-9900000', '99_00', 'ABC', ' 9900000x']) {
    t.same(problems({ ...MINIMAL, BRTC_ACCOUNT_ID: id }), ['BRTC_ACCOUNT_ID: must be a Bandwidth account id: 1 to 64 decimal digits'], JSON.stringify(id))
  }
  t.equal(loadConfig({ ...MINIMAL, BRTC_ACCOUNT_ID: '5500123' }).brtc?.accountId, '5500123')
})

t.test('bad values name the variable, never the value', async (t) => {
  const out = problems({
    ...MINIMAL,
    BRTC_ACCOUNT_ID: 'acct/../9900000',
    BRTC_MAX_ENDPOINTS_PER_CALLER: '0',
    BRTC_SWEEP_INTERVAL_SECONDS: '5',
    BRTC_API_URL: 'https://user:pass@api.example.com/v2'
  })
  t.equal(out.length, 4)
  t.match(out.join('\n'), /BRTC_ACCOUNT_ID: must be a Bandwidth account id: 1 to 64 decimal digits/)
  t.match(out.join('\n'), /BRTC_MAX_ENDPOINTS_PER_CALLER: must be an integer from 1 to 1000/)
  t.match(out.join('\n'), /BRTC_SWEEP_INTERVAL_SECONDS: must be an integer from 10 to 86400/)
  t.match(out.join('\n'), /BRTC_API_URL: must not contain credentials/)
  t.notMatch(out.join('\n'), /pass|acct\/\.\./)
})
