// ApiKeyVerifier: identities for matching keys, undefined for everything else, and a
// comparison against every entry whatever matches (checked structurally, never by timing).
import * as crypto from 'node:crypto'
import t from 'tap'
import { ApiKeyVerifier, MAX_PRESENTED_KEY_LENGTH } from '../../src/auth/api-keys.js'
import type { ApiKeyEntry } from '../../src/config/types.js'
import { sha256 } from '../../src/lib/secret.js'

const KEY_A = 'a'.repeat(20) + '-alpha-key-0123456789'
const KEY_B = 'b'.repeat(20) + '-bravo-key-0123456789'
const entry = (name: string, key: string): ApiKeyEntry => ({ name, sha256: sha256(key) })

t.test('a matching key returns its identity; an unknown key returns undefined', async t => {
  const verifier = new ApiKeyVerifier([entry('web', KEY_A)])
  t.equal(verifier.verify(KEY_A), 'web')
  t.equal(verifier.verify(KEY_B), undefined)
  t.equal(verifier.verify(KEY_A + 'x'), undefined)
  t.equal(verifier.verify(KEY_A.slice(0, -1)), undefined)
})

t.test('several entries: each key maps to its own name', async t => {
  const verifier = new ApiKeyVerifier([entry('web', KEY_A), entry('mobile', KEY_B), entry('ops', 'o'.repeat(40))])
  t.equal(verifier.verify(KEY_A), 'web')
  t.equal(verifier.verify(KEY_B), 'mobile')
  t.equal(verifier.verify('o'.repeat(40)), 'ops')
  t.equal(verifier.verify('o'.repeat(39)), undefined)
})

t.test('an entry given in name:sha256:<hex> form matches the original key', async t => {
  const hex = crypto.createHash('sha256').update(KEY_B).digest('hex')
  const verifier = new ApiKeyVerifier([{ name: 'hashed', sha256: Buffer.from(hex, 'hex') }])
  t.equal(verifier.verify(KEY_B), 'hashed')
  t.equal(verifier.verify(hex), undefined, 'the hash itself is not the key')
})

t.test('a rotation pair (two keys, one name) accepts both keys', async t => {
  const verifier = new ApiKeyVerifier([entry('web', KEY_A), entry('web', KEY_B)])
  t.equal(verifier.verify(KEY_A), 'web')
  t.equal(verifier.verify(KEY_B), 'web')
})

t.test('absurd input is refused', async t => {
  const verifier = new ApiKeyVerifier([entry('web', KEY_A), entry('max', 'm'.repeat(MAX_PRESENTED_KEY_LENGTH))])
  t.equal(verifier.verify(''), undefined, 'empty')
  t.equal(verifier.verify('x'.repeat(1_000_000)), undefined, 'huge')
  t.equal(verifier.verify('m'.repeat(MAX_PRESENTED_KEY_LENGTH + 1)), undefined, 'one over the limit')
  t.equal(verifier.verify('m'.repeat(MAX_PRESENTED_KEY_LENGTH)), 'max', 'exactly at the limit works')
  t.equal(verifier.verify(KEY_A.slice(0, -1) + 'é'), undefined, 'non-ASCII')
  t.equal(verifier.verify(KEY_A + '\n'), undefined, 'control character')
  t.equal(verifier.verify('\u0000'), undefined, 'NUL')
  t.equal(verifier.verify(undefined as unknown as string), undefined, 'not a string')
})

t.test('a key with a space (printable ASCII) can match', async t => {
  const key = 'correct horse battery staple 0123456789'
  t.equal(new ApiKeyVerifier([entry('spaced', key)]).verify(key), 'spaced')
})

t.test('no entries: nothing matches', async t => {
  t.equal(new ApiKeyVerifier([]).verify(KEY_A), undefined)
})

t.test('duplicate keys under different names: the first listed wins', async t => {
  t.equal(new ApiKeyVerifier([entry('first', KEY_A), entry('second', KEY_A)]).verify(KEY_A), 'first')
})

t.test('an entry whose digest is not 32 bytes is a startup error naming only the identity', async t => {
  t.throws(() => new ApiKeyVerifier([{ name: 'broken', sha256: Buffer.alloc(16) }]), {
    name: 'TypeError',
    message: /"broken"/
  })
})

t.test('the verifier copies digests: mutating the config buffer changes nothing', async t => {
  const digest = sha256(KEY_A)
  const verifier = new ApiKeyVerifier([{ name: 'web', sha256: digest }])
  digest.fill(0)
  t.equal(verifier.verify(KEY_A), 'web')
})

t.test('every entry is compared, with equal-length buffers, whichever matches', async t => {
  const lengths: Array<[number, number]> = []
  const { ApiKeyVerifier: Spied } = await t.mockImport<typeof import('../../src/auth/api-keys.js')>('../../src/auth/api-keys.js', {
    'node:crypto': {
      ...crypto,
      timingSafeEqual: (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => {
        lengths.push([a.byteLength, b.byteLength])
        return crypto.timingSafeEqual(a, b)
      }
    }
  })
  const verifier = new Spied([entry('a', KEY_A), entry('b', KEY_B), entry('c', 'c'.repeat(64))])
  for (const presented of [KEY_A, KEY_B, 'c'.repeat(64), 'nope', 'x'.repeat(500)]) {
    lengths.length = 0
    verifier.verify(presented)
    t.same(lengths, [[32, 32], [32, 32], [32, 32]], `3 comparisons of 32 bytes for a ${presented.length}-char key`)
  }
})
