// Keys derived from a client secret: scrypt (memory-hard, so a copy of Redis or an endpoint's
// owner tag does not make guessing a weak secret cheap), computed once per secret and purpose,
// and the same on every replica holding the same secret.
import t from 'tap'
import { hkdfSync, scryptSync } from 'node:crypto'
import { rootKey, subKey } from '../../src/lib/derive-key.js'
import { Secret } from '../../src/lib/secret.js'

t.test('the root key is scrypt of the secret (N=2^15, r=8, p=1) under a purpose-specific salt', async (t) => {
  const key = await rootKey(new Secret('weak-secret'), 'purpose-a')
  t.equal(key.length, 32)
  const expected = scryptSync('weak-secret', 'webrtc-token-service/v1/purpose-a', 32, { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 })
  t.ok(key.equals(expected))
})

t.test('same secret and purpose: the same key, derived once; another secret or purpose: another key', async (t) => {
  const [a, b] = await Promise.all([rootKey(new Secret('s3cret'), 'p'), rootKey(new Secret('s3cret'), 'p')])
  t.equal(a, b, 'two Secret instances of one value share one derivation (the very same Buffer)')
  t.equal(await rootKey(new Secret('s3cret'), 'p'), a, 'a later caller gets it too')
  t.notOk(a.equals(await rootKey(new Secret('s3cret!'), 'p')))
  t.notOk(a.equals(await rootKey(new Secret('s3cret'), 'q')))
})

t.test('sub-keys: HKDF-SHA256 per use, of the requested length', async (t) => {
  const root = await rootKey(new Secret('x'), 'p')
  t.equal(subKey(root, 'one').length, 32, '32 bytes by default')
  t.ok(subKey(root, 'one').equals(Buffer.from(hkdfSync('sha256', root, Buffer.alloc(0), 'one', 32))), 'HKDF-SHA256, no salt, the use as info')
  t.equal(subKey(root, 'one', 16).length, 16)
  t.notOk(subKey(root, 'one').equals(subKey(root, 'two')))
  t.ok(subKey(root, 'one').equals(subKey(root, 'one')))
})
