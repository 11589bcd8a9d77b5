// Token encryption for Redis (src/redis/crypto.ts): the entry name (keyId) and the AES-256-GCM
// key both come from the client secret and the upstream's context (through src/lib/derive-key.ts,
// tested in test/lib/derive-key.test.ts), so another secret or context names another entry and
// reads nothing; anything not authentic under our key decrypts to nothing.
import t from 'tap'
import { ENVELOPE_VERSION, TokenCipher } from '../../src/redis/crypto.js'
import { Secret } from '../../src/lib/secret.js'

const URL_A = 'https://id.example.test/api/v1/oauth2/token'
const SECRET = new Secret('client-secret-Sup3r$ecret!')
const CONTEXT = [URL_A, 'client', 'voice.webrtc']
const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.payload-of-the-access-token.signature'

t.test('the entry name is hex, stable per secret and context, and differs with either', async (t) => {
  const cipher = await TokenCipher.create(SECRET, CONTEXT)
  t.match(cipher.keyId, /^[0-9a-f]{32}$/)
  t.equal((await TokenCipher.create(new Secret(SECRET.reveal()), [...CONTEXT])).keyId, cipher.keyId,
    'another replica holding the same secret derives the same name')
  const others = await Promise.all([
    TokenCipher.create(new Secret('the-next-client-secret'), CONTEXT),
    TokenCipher.create(SECRET, ['https://id.other.test/token', 'client', 'voice.webrtc']),
    TokenCipher.create(SECRET, [URL_A, 'client2', 'voice.webrtc']),
    TokenCipher.create(SECRET, [URL_A, 'client', null]),
    TokenCipher.create(SECRET, [URL_A, 'client', '']),
    // Fields cannot run into each other.
    TokenCipher.create(SECRET, [URL_A + 'c', 'lient', 'voice.webrtc'])
  ])
  const ids = [cipher.keyId, ...others.map((c) => c.keyId)]
  t.equal(new Set(ids).size, ids.length, 'every secret and context has its own entry')
  for (const id of ids) {
    t.notMatch(id, 'client')
    t.notMatch(id, Buffer.from(SECRET.reveal()).toString('hex').slice(0, 16))
  }
})

t.test('round trip, across replicas, a fresh IV each time, and no plaintext in the envelope', async (t) => {
  const cipher = await TokenCipher.create(SECRET, CONTEXT)
  const a = cipher.encrypt(TOKEN)
  const b = cipher.encrypt(TOKEN)
  t.not(a, b, 'random IV per write')
  t.equal(cipher.decrypt(a), TOKEN)
  t.equal(cipher.decrypt(b), TOKEN)
  const replica = await TokenCipher.create(new Secret(SECRET.reveal()), CONTEXT)
  t.equal(replica.decrypt(a), TOKEN, 'another replica with the same secret reads it')
  const envelope = JSON.parse(a)
  t.same(Object.keys(envelope).sort(), ['ct', 'iv', 'tag', 'v'])
  t.equal(ENVELOPE_VERSION, 2)
  t.equal(envelope.v, ENVELOPE_VERSION)
  t.equal(Buffer.from(envelope.iv, 'base64').length, 12)
  t.equal(Buffer.from(envelope.tag, 'base64').length, 16)
  for (const form of [TOKEN, Buffer.from(TOKEN).toString('base64'), Buffer.from(TOKEN).toString('base64url'), SECRET.reveal()]) {
    t.notMatch(a, form)
  }
})

t.test('another client secret, another context, or a tampered envelope reads as nothing', async (t) => {
  const cipher = await TokenCipher.create(SECRET, CONTEXT)
  const stored = cipher.encrypt(TOKEN)
  t.equal((await TokenCipher.create(new Secret('another-secret'), CONTEXT)).decrypt(stored), undefined, 'different secret')
  t.equal((await TokenCipher.create(SECRET, [URL_A, 'other', 'voice.webrtc'])).decrypt(stored), undefined, 'different context')

  const envelope = JSON.parse(stored)
  const flip = (b64: string): string => {
    const bytes = Buffer.from(b64, 'base64')
    bytes[0] = (bytes[0] as number) ^ 1
    return bytes.toString('base64')
  }
  t.equal(cipher.decrypt(JSON.stringify({ ...envelope, ct: flip(envelope.ct) })), undefined, 'ciphertext')
  t.equal(cipher.decrypt(JSON.stringify({ ...envelope, tag: flip(envelope.tag) })), undefined, 'tag')
  t.equal(cipher.decrypt(JSON.stringify({ ...envelope, iv: flip(envelope.iv) })), undefined, 'iv')
  t.equal(cipher.decrypt(JSON.stringify(envelope)), TOKEN, 'the untouched envelope still reads')
})

t.test('anything that is not an envelope of this version reads as nothing', async (t) => {
  const cipher = await TokenCipher.create(SECRET, CONTEXT)
  const envelope = JSON.parse(cipher.encrypt(TOKEN))
  for (const stored of [
    'not json',
    'null',
    '42',
    '"a string"',
    JSON.stringify({ ...envelope, v: 1 }),
    JSON.stringify({ ...envelope, v: 3 }),
    JSON.stringify({ ...envelope, iv: 1 }),
    JSON.stringify({ ...envelope, tag: undefined }),
    JSON.stringify({ ...envelope, ct: null }),
    JSON.stringify({ ...envelope, iv: Buffer.alloc(16).toString('base64') }),
    JSON.stringify({ ...envelope, tag: Buffer.alloc(8).toString('base64') })
  ]) {
    t.equal(cipher.decrypt(stored), undefined, stored.slice(0, 40))
  }
})
