// Secret, fingerprint and sha256 (src/lib/secret.ts): a credential that cannot leak by accident.
// Every way a value reaches text (string conversion, templates, JSON, util.inspect, util.format,
// console-style formatting, pino, structuredClone) prints a placeholder; only reveal() gives the
// value. equals() compares fixed-size digests with timingSafeEqual (checked structurally, never by
// timing), and a fingerprint is 16 hex digits of the SHA-256, never the value.
import t from 'tap'
import * as crypto from 'node:crypto'
import { Writable } from 'node:stream'
import { format, inspect } from 'node:util'
import pino from 'pino'
import { fingerprint, REDACTED, Secret, sha256 } from '../../src/lib/secret.js'

const VALUE = 'sk-Sup3r$ecret-0123456789'

t.test('reveal() gives the value, unchanged', async (t) => {
  t.equal(new Secret(VALUE).reveal(), VALUE)
  t.equal(new Secret('').reveal(), '')
  t.equal(new Secret(' é\u0000 ').reveal(), ' é\u0000 ')
})

t.test('string conversion and templates print the placeholder', async (t) => {
  const secret = new Secret(VALUE)
  t.equal(REDACTED, '[redacted]')
  t.equal(String(secret), REDACTED)
  t.equal(`${secret}`, REDACTED)
  t.equal(`key=${secret}`, `key=${REDACTED}`)
  t.equal(secret.toString(), REDACTED)
  t.equal('' + secret, REDACTED, 'concatenation')
  t.equal([secret, secret].join(','), `${REDACTED},${REDACTED}`)
})

t.test('JSON prints the placeholder, at any depth', async (t) => {
  const secret = new Secret(VALUE)
  t.equal(JSON.stringify(secret), `"${REDACTED}"`)
  t.equal(JSON.stringify({ a: { b: [secret] } }), `{"a":{"b":["${REDACTED}"]}}`)
  t.equal(secret.toJSON(), REDACTED)
})

t.test('util.inspect, util.format and console-style formatting print the placeholder', async (t) => {
  const secret = new Secret(VALUE)
  t.equal(inspect(secret), `Secret(${REDACTED})`)
  t.equal(inspect(secret, { showHidden: true, depth: Infinity, customInspect: true }), `Secret(${REDACTED})`)
  t.match(inspect({ nested: { secret } }), `Secret(${REDACTED})`)
  for (const spec of ['%s', '%o', '%O', '%j', '%v']) {
    t.notMatch(format(spec, secret), VALUE, spec)
  }
  t.notMatch(format('%s', { secret }), VALUE, 'nested, %s')
  t.notMatch(format(secret), VALUE, 'as the only argument')
})

t.test('no enumerable or reflective path reaches the value', async (t) => {
  const secret = new Secret(VALUE)
  t.same(Object.keys(secret), [])
  t.same(Object.getOwnPropertyNames(secret), [])
  t.same(Object.getOwnPropertySymbols(secret), [])
  t.same({ ...secret }, {})
  t.notMatch(JSON.stringify(structuredClone({ secret })), VALUE, 'structuredClone keeps no private field')
})

t.test('a pino log line holding a Secret prints the placeholder', async (t) => {
  const lines: string[] = []
  const stream = new Writable({ write (chunk: Buffer, _enc, cb) { lines.push(chunk.toString('utf8')); cb() } })
  const log = pino({}, stream)
  log.info({ secret: new Secret(VALUE), nested: { list: [new Secret(VALUE)] } }, 'with a secret')
  t.equal(lines.length, 1)
  t.notMatch(lines.join(''), VALUE)
  const line = JSON.parse(lines[0] as string) as { secret: string, nested: { list: string[] } }
  t.equal(line.secret, REDACTED)
  t.same(line.nested.list, [REDACTED])
})

t.test('equals(): same value, whatever the instance', async (t) => {
  const a = new Secret(VALUE)
  t.ok(a.equals(a), 'itself')
  t.ok(a.equals(new Secret(VALUE)), 'another instance, same value')
  t.ok(new Secret('').equals(new Secret('')), 'both empty')
  t.ok(new Secret('é').equals(new Secret('é')))
})

t.test('equals(): any difference, in content or length, is unequal, both ways round', async (t) => {
  const a = new Secret(VALUE)
  for (const other of [VALUE + 'x', VALUE.slice(0, -1), VALUE.toUpperCase(), ` ${VALUE}`, '', 'x'.repeat(10_000)]) {
    t.notOk(a.equals(new Secret(other)), JSON.stringify(other.slice(0, 30)))
    t.notOk(new Secret(other).equals(a), `${JSON.stringify(other.slice(0, 30))}, reversed`)
  }
  t.notOk(new Secret('\u00e9').equals(new Secret('e\u0301')), 'no Unicode normalisation: composed and decomposed é differ')
})

t.test('equals(): compares two 32-byte digests in constant time, whatever the lengths', async (t) => {
  const compared: Array<[number, number]> = []
  const { Secret: Spied } = await t.mockImport<typeof import('../../src/lib/secret.js')>('../../src/lib/secret.js', {
    'node:crypto': {
      ...crypto,
      timingSafeEqual: (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => {
        compared.push([a.byteLength, b.byteLength])
        return crypto.timingSafeEqual(a, b)
      }
    }
  })
  const base = new Spied(VALUE)
  for (const other of ['', 'short', VALUE, VALUE + 'longer', 'x'.repeat(5000)]) {
    compared.length = 0
    const equal = base.equals(new Spied(other))
    t.equal(equal, other === VALUE, `${other.length} chars: the right answer`)
    t.same(compared, [[32, 32]], `${other.length} chars: one comparison of two 32-byte digests`)
  }
})

t.test('fingerprint: the first 16 hex digits of the SHA-256, never the value', async (t) => {
  const fp = fingerprint(new Secret(VALUE))
  t.match(fp, /^[0-9a-f]{16}$/)
  t.equal(fp, crypto.createHash('sha256').update(VALUE, 'utf8').digest('hex').slice(0, 16))
  t.equal(fingerprint(new Secret(VALUE)), fp, 'stable')
  t.not(fingerprint(new Secret(VALUE + '.')), fp, 'another value, another fingerprint')
  t.notMatch(fp, VALUE.slice(0, 6))
  t.equal(fingerprint(new Secret('')), 'e3b0c44298fc1c14', 'the empty string too (a known digest)')
})

t.test('sha256: the 32-byte SHA-256 of the UTF-8 bytes', async (t) => {
  for (const value of ['', 'abc', 'é', '🔑', VALUE]) {
    const digest = sha256(value)
    t.ok(Buffer.isBuffer(digest), `${JSON.stringify(value)}: a Buffer`)
    t.equal(digest.length, 32)
    t.same(digest, crypto.createHash('sha256').update(Buffer.from(value, 'utf8')).digest(), JSON.stringify(value))
  }
  t.equal(sha256('abc').toString('hex'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', 'the FIPS 180-2 test vector')
})
