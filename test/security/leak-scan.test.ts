// The leak scanner itself: a needle is found whatever form the output carries it in, so the
// no-leak tests cannot pass merely because a secret was encoded.
import t from 'tap'
import { findLeaks } from '../helpers/leak-scan.js'

const SECRET = 'X-API-Key: k3y-0123456789abcdef0123456789abcdef'

t.test('finds a needle in text, JSON, byte arrays, Buffers, base64 and percent-encoding', async (t) => {
  const bytes = [...Buffer.from(`GET / HTTP/1.1\r\n${SECRET}\r\n\r\n`)]
  const forms: Array<[string, string]> = [
    ['plain text', `a line with ${SECRET} in it`],
    ['a JSON string', JSON.stringify({ msg: 'x', nested: { deeper: [SECRET] } })],
    ['a byte array', JSON.stringify({ err: { rawPacket: bytes } })],
    ['a serialised Buffer', JSON.stringify({ err: { rawPacket: { type: 'Buffer', data: bytes } } })],
    ['base64', JSON.stringify({ v: Buffer.from(SECRET).toString('base64') })],
    ['base64url', JSON.stringify({ v: Buffer.from(SECRET).toString('base64url') })],
    ['percent-encoding', `/x?k=${encodeURIComponent(SECRET)}`],
    ['broken percent-encoding around it', `/x/%ZZ?k=${encodeURIComponent(SECRET)}`]
  ]
  for (const [name, output] of forms) t.same(findLeaks([output], [SECRET]), [`${SECRET.slice(0, 6)}…`], name)
})

t.test('clean output finds nothing', async (t) => {
  t.same(findLeaks(['{"msg":"request completed","status":200}', 'plain', '[1,2,3]'], [SECRET, '']), [])
})
