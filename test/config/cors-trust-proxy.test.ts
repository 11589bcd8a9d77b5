// CORS_ORIGINS (exact origins, no wildcard or null) and TRUST_PROXY (boolean, hop count, or
// a list of IPs/CIDRs).
import t from 'tap'
import { loadConfig } from '../../src/config/load-config.js'
import { MINIMAL, problems } from '../helpers/config-env.js'

const NOT_AN_ORIGIN = 'is not an exact origin of the form https://host[:port] (lowercase, no path, query, trailing slash or default port)'

t.test('CORS_ORIGINS: exact origins, trimmed, deduplicated', async t => {
  const config = loadConfig({ ...MINIMAL, CORS_ORIGINS: 'https://app.example.com, http://localhost:3000,,https://app.example.com,https://[::1]:8443' })
  t.same(config.corsOrigins, ['https://app.example.com', 'http://localhost:3000', 'https://[::1]:8443'])
})

t.test('CORS_ORIGINS: wildcard and null are refused', async t => {
  t.same(problems({ ...MINIMAL, CORS_ORIGINS: '*' }), ['CORS_ORIGINS: entry 1 is a wildcard, which is refused: list exact origins'])
  t.same(problems({ ...MINIMAL, CORS_ORIGINS: 'https://a.example.com,null' }), ['CORS_ORIGINS: entry 2 is the null origin, which is refused'])
  t.same(problems({ ...MINIMAL, CORS_ORIGINS: 'https://*.example.com' }), ['CORS_ORIGINS: entry 1 is a wildcard, which is refused: list exact origins'],
    'no wildcard subdomains either (the URL parser would take it as a literal host)')
  t.same(problems({ ...MINIMAL, CORS_ORIGINS: 'NULL' }), ['CORS_ORIGINS: entry 1 is the null origin, which is refused'])
})

t.test('CORS_ORIGINS: anything but a canonical http(s) origin is refused', async t => {
  for (const entry of [
    'https://app.example.com/',
    'https://app.example.com/path',
    'https://app.example.com?x=1',
    'https://App.Example.com',
    'https://app.example.com:443',
    'http://app.example.com:80',
    'app.example.com',
    'capacitor://localhost',
    'ws://app.example.com',
    'https://user@app.example.com',
  ]) {
    t.same(problems({ ...MINIMAL, CORS_ORIGINS: entry }), [`CORS_ORIGINS: entry 1 ${NOT_AN_ORIGIN}`], entry)
  }
})

t.test('CORS_ORIGINS: only separators is a problem', async t => {
  t.same(problems({ ...MINIMAL, CORS_ORIGINS: ' , ' }), ['CORS_ORIGINS: contains no origins'])
})

t.test('TRUST_PROXY: booleans and hop counts', async t => {
  const trust = (value: string) => loadConfig({ ...MINIMAL, TRUST_PROXY: value }).trustProxy
  t.equal(trust('true'), true)
  t.equal(trust('TRUE'), true)
  t.equal(trust('false'), false)
  t.equal(trust(' False '), false)
  t.equal(trust('0'), 0)
  t.equal(trust('1'), 1)
  t.equal(trust('12'), 12)
})

t.test('TRUST_PROXY: IP addresses and CIDR ranges', async t => {
  const trust = (value: string) => loadConfig({ ...MINIMAL, TRUST_PROXY: value }).trustProxy
  t.same(trust('10.0.0.1'), ['10.0.0.1'])
  t.same(trust('10.0.0.0/8, 192.168.1.1/32,::1, fd00::/8,2001:db8::/128,0.0.0.0/1,'), [
    '10.0.0.0/8', '192.168.1.1/32', '::1', 'fd00::/8', '2001:db8::/128', '0.0.0.0/1',
  ])
  t.same(problems({ ...MINIMAL, TRUST_PROXY: '0.0.0.0/0' }), ['TRUST_PROXY: entry 1 trusts every address of its family (a /0, or ::ffff:0:0/96 for IPv4); TRUST_PROXY=true says that'], 'a /0 range is refused, not a crash when Fastify compiles it')
})

t.test('TRUST_PROXY: anything else is refused, entry by entry', async t => {
  const bad = (entry: string) => `TRUST_PROXY: entry ${entry} is not an IP address or CIDR range ` +
    '(TRUST_PROXY must be true, false, a hop count, or comma-separated IP addresses/CIDR ranges)'
  for (const value of ['yes', '-1', '1.5', '10.0.0.0/33', '::/129', '10.0.0.0/', '10.0.0.0/8/8', '10.0.0.0/x', '10.0.0.256', 'loopback', 'example.com']) {
    t.same(problems({ ...MINIMAL, TRUST_PROXY: value }), [bad('1')], value)
  }
  t.same(problems({ ...MINIMAL, TRUST_PROXY: '10.0.0.1,true,10.0.0.2,proxy' }), [bad('2'), bad('4')])
  t.same(problems({ ...MINIMAL, TRUST_PROXY: ',' }), ['TRUST_PROXY: contains no addresses'])
})
