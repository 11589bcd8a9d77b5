// Token encryption for Redis: AES-256-GCM under an HKDF key from the client secret; key ids
// from (token URL, client id, scope); anything not authentic under our key decrypts to nothing.
import t from 'tap'
import { TokenCipher, tokenKeyId } from '../../src/redis/crypto.js'
import { Secret } from '../../src/lib/secret.js'

const URL_A = 'https://id.example.test/api/v1/oauth2/token'
const SECRET = new Secret('client-secret-Sup3r$ecret!')
const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.payload-of-the-access-token.signature'

t.test('key ids are stable, hex, and differ per token URL, client id and scope', async (t) => {
  const id = tokenKeyId(new URL(URL_A), 'client', 'voice.webrtc')
  t.match(id, /^[0-9a-f]{64}$/)
  t.equal(tokenKeyId(URL_A, 'client', 'voice.webrtc'), id, 'URL object or string')
  const others = [
    tokenKeyId('https://id.other.test/token', 'client', 'voice.webrtc'),
    tokenKeyId(URL_A, 'client2', 'voice.webrtc'),
    tokenKeyId(URL_A, 'client', undefined),
    tokenKeyId(URL_A, 'client', ''),
    // Fields cannot run into each other.
    tokenKeyId(URL_A + 'c', 'lient', 'voice.webrtc')
  ]
  t.equal(new Set([id, ...others]).size, others.length + 1)
  t.notMatch(id, 'client')
})

t.test('round trip, a fresh IV each time, and no plaintext in the envelope', async (t) => {
  const cipher = new TokenCipher(SECRET, tokenKeyId(URL_A, 'client', undefined))
  const a = cipher.encrypt(TOKEN)
  const b = cipher.encrypt(TOKEN)
  t.not(a, b, 'random IV per write')
  t.equal(cipher.decrypt(a), TOKEN)
  t.equal(cipher.decrypt(b), TOKEN)
  const envelope = JSON.parse(a)
  t.same(Object.keys(envelope).sort(), ['ct', 'iv', 'tag', 'v'])
  t.equal(envelope.v, 1)
  t.equal(Buffer.from(envelope.iv, 'base64').length, 12)
  t.equal(Buffer.from(envelope.tag, 'base64').length, 16)
  for (const form of [TOKEN, Buffer.from(TOKEN).toString('base64'), Buffer.from(TOKEN).toString('base64url'), SECRET.reveal()]) {
    t.notMatch(a, form)
  }
})

t.test('another client secret, another key id, or a tampered envelope reads as nothing', async (t) => {
  const keyId = tokenKeyId(URL_A, 'client', undefined)
  const cipher = new TokenCipher(SECRET, keyId)
  const stored = cipher.encrypt(TOKEN)
  t.equal(new TokenCipher(new Secret('another-secret'), keyId).decrypt(stored), undefined, 'different secret')
  t.equal(new TokenCipher(SECRET, tokenKeyId(URL_A, 'other', undefined)).decrypt(stored), undefined, 'bound to its key id (AAD and HKDF info)')

  const envelope = JSON.parse(stored)
  const flip = (b64: string): string => {
    const bytes = Buffer.from(b64, 'base64')
    bytes[0] = (bytes[0] as number) ^ 1
    return bytes.toString('base64')
  }
  t.equal(cipher.decrypt(JSON.stringify({ ...envelope, ct: flip(envelope.ct) })), undefined, 'ciphertext')
  t.equal(cipher.decrypt(JSON.stringify({ ...envelope, tag: flip(envelope.tag) })), undefined, 'tag')
  t.equal(cipher.decrypt(JSON.stringify({ ...envelope, iv: flip(envelope.iv) })), undefined, 'iv')
})

t.test('anything that is not an envelope reads as nothing', async (t) => {
  const cipher = new TokenCipher(SECRET, 'k')
  const envelope = JSON.parse(cipher.encrypt(TOKEN))
  for (const stored of [
    'not json',
    'null',
    '"a string"',
    JSON.stringify({ ...envelope, v: 2 }),
    JSON.stringify({ ...envelope, iv: 1 }),
    JSON.stringify({ ...envelope, tag: undefined }),
    JSON.stringify({ ...envelope, ct: null }),
    JSON.stringify({ ...envelope, iv: Buffer.alloc(16).toString('base64') }),
    JSON.stringify({ ...envelope, tag: Buffer.alloc(8).toString('base64') })
  ]) {
    t.equal(cipher.decrypt(stored), undefined, stored.slice(0, 40))
  }
})
