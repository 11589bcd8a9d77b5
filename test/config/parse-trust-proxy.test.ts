// parseTrustProxy (src/config/parse-trust-proxy.ts), on its own: TRUST_PROXY as a boolean, a hop
// count, or IP addresses/CIDR ranges, and anything else a problem rather than a guess, since
// trusting X-Forwarded-For from anywhere lets every client pick the address it is rate-limited
// by. Also the problem contract (appended, labelled, numbered, never quoting the value).
// test/config/cors-trust-proxy.test.ts sees it only through loadConfig.
import t from 'tap'
import fc from 'fast-check'
import { compile } from '@fastify/proxy-addr'
import { parseTrustProxy } from '../../src/config/parse-trust-proxy.js'
import type { TrustProxy } from '../../src/config/types.js'

const NOT_AN_ADDRESS = 'is not an IP address or CIDR range ' +
  '(TRUST_PROXY must be true, false, a hop count, or comma-separated IP addresses/CIDR ranges)'

function parse (value: string, label = 'TRUST_PROXY'): { value: TrustProxy, problems: string[] } {
  const problems: string[] = []
  return { value: parseTrustProxy(value, label, problems), problems }
}

t.test('true and false, in any case and with surrounding space', async (t) => {
  for (const text of ['true', 'TRUE', 'True', ' true ']) t.same(parse(text), { value: true, problems: [] }, text)
  for (const text of ['false', 'FALSE', 'False', '\tfalse\n']) t.same(parse(text), { value: false, problems: [] }, JSON.stringify(text))
})

t.test('a hop count of up to nine digits is a number', async (t) => {
  t.same(parse('0'), { value: 0, problems: [] })
  t.same(parse('1'), { value: 1, problems: [] })
  t.same(parse(' 2 '), { value: 2, problems: [] })
  t.same(parse('007'), { value: 7, problems: [] })
  t.same(parse('999999999'), { value: 999_999_999, problems: [] })
})

t.test('numbers that are no hop count are problems, not guesses', async (t) => {
  for (const text of ['1234567890', '-1', '+1', '1.5', '1e3', '0x10', '1_000', 'Infinity', 'NaN']) {
    t.same(parse(text).problems, [`TRUST_PROXY: entry 1 ${NOT_AN_ADDRESS}`], text)
  }
})

t.test('addresses and CIDR ranges, IPv4 and IPv6, trimmed and in order', async (t) => {
  t.same(parse('10.0.0.1'), { value: ['10.0.0.1'], problems: [] })
  t.same(parse(' 10.0.0.0/8 , 192.168.1.0/24,::1, fd00::/8 '), { value: ['10.0.0.0/8', '192.168.1.0/24', '::1', 'fd00::/8'], problems: [] })
  t.same(parse('::ffff:10.0.0.1'), { value: ['::ffff:10.0.0.1'], problems: [] }, 'IPv4-mapped IPv6')
  t.same(parse('1.2.3.4,,5.6.7.8,'), { value: ['1.2.3.4', '5.6.7.8'], problems: [] }, 'empty entries skipped')
})

t.test('prefix lengths: 1 to 32 for IPv4, 1 to 128 for IPv6', async (t) => {
  for (const range of ['10.0.0.0/1', '10.0.0.1/32', '2001:db8::/1', '2001:db8::1/128']) {
    t.same(parse(range), { value: [range], problems: [] }, range)
  }
  for (const range of ['10.0.0.0/33', '10.0.0.0/999', '2001:db8::/129', '10.0.0.0/', '10.0.0.0/-1', '10.0.0.0/8/8', '10.0.0.0/ 8', '10.0.0.0/8a', '10.0.0.0/0x8']) {
    t.same(parse(range).problems, [`TRUST_PROXY: entry 1 ${NOT_AN_ADDRESS}`], range)
  }
})

t.test('a range that trusts every IPv4 or IPv6 peer is a problem that says so; what passes, Fastify compiles', async (t) => {
  for (const range of ['10.0.0.0/0', '::/0', '0.0.0.0/000', '::ffff:0.0.0.0/96', '::ffff:0:0/96']) {
    t.same(parse(`10.1.2.3, ${range}`).problems, ['TRUST_PROXY: entry 2 trusts every address of its family (a /0, or ::ffff:0:0/96 for IPv4); TRUST_PROXY=true says that'], range)
  }
  const accepted = ['10.0.0.0/8', '10.0.0.1', '2001:db8::/32', '::ffff:10.0.0.1', '::ffff:10.0.0.0/104', '::ffff:0.0.0.0/97', '0.0.0.0/1', '::/1', '::/80']
  const { value, problems } = parse(accepted.join(','))
  t.same(problems, [])
  t.doesNotThrow(() => compile(value as string[]), 'as Fastify compiles TRUST_PROXY')
})

t.test('what is no IP address is a problem: names, partial or padded addresses, another list\'s words', async (t) => {
  for (const text of ['loopback', 'localhost', 'proxy.internal', '10.0.0', '1.2.3.4.5', '010.0.0.1', '256.0.0.1', 'yes', '*', 'true,10.0.0.1', '10.0.0.1 10.0.0.2', '/8']) {
    t.ok(parse(text).problems.length > 0, text)
  }
  t.same(parse('true,10.0.0.1'), { value: ['true', '10.0.0.1'], problems: [`TRUST_PROXY: entry 1 ${NOT_AN_ADDRESS}`] }, 'true is a word only on its own')
})

t.test('nothing but separators contains no addresses', async (t) => {
  for (const text of ['', ' ', ',', ' , ,']) {
    t.same(parse(text), { value: [], problems: ['TRUST_PROXY: contains no addresses'] }, JSON.stringify(text))
  }
})

t.test('one problem per bad entry, numbered among the non-empty ones, appended under the label', async (t) => {
  const problems = ['EARLIER: kept']
  const value = parseTrustProxy('10.0.0.1, nope,, 10.0.0.0/40, ::1', 'SOME_LABEL', problems)
  t.same(value, ['10.0.0.1', 'nope', '10.0.0.0/40', '::1'], 'the list as given: meaningful only without problems')
  t.same(problems, ['EARLIER: kept', `SOME_LABEL: entry 2 ${NOT_AN_ADDRESS}`, `SOME_LABEL: entry 3 ${NOT_AN_ADDRESS}`])
})

t.test('a problem never quotes the value', async (t) => {
  const marker = 'hunter2-marker'
  for (const text of [marker, `10.0.0.1,${marker}`, `10.0.0.0/${marker}`]) {
    const { problems } = parse(text)
    t.ok(problems.length > 0, text)
    t.notMatch(problems.join('\n'), marker, `${text}: not quoted`)
  }
})

t.test('property: every IPv4 address with a prefix length from 1 is accepted exactly up to 32', async (t) => {
  t.doesNotThrow(() => {
    fc.assert(fc.property(fc.ipV4(), fc.integer({ min: 1, max: 200 }), (address, prefix) => {
      const { problems } = parse(`${address}/${prefix}`)
      return (problems.length === 0) === (prefix <= 32)
    }))
  })
})

t.test('property: every IPv6 address is accepted, alone and with a prefix up to 128', async (t) => {
  t.doesNotThrow(() => {
    fc.assert(fc.property(fc.ipV6(), fc.integer({ min: 1, max: 128 }), (address, prefix) =>
      parse(address).problems.length === 0 && parse(`${address}/${prefix}`).problems.length === 0))
  })
})
