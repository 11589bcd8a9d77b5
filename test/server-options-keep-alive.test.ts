// The server options' keep-alive settings (src/server-options.ts: no cap on requests per socket):
// any HTTP/1.1 client gets a real answer on a kept-alive connection, however many requests it
// has carried, including a client that ignores `Connection: close` (load generators do): 1,500
// requests written one after the other on one socket all get their 200, none a 503.
import t from 'tap'
import { connect } from 'node:net'
import { API_KEY, build } from './helpers/build.js'

t.test('1,500 requests on one connection: every one a 200', async (t) => {
  const { app } = await build(t, { env: { LOG_LEVEL: 'warn', RATE_LIMIT_MAX: '1000000' }, noReady: true })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as { port: number }
  const socket = connect({ host: '127.0.0.1', port })
  t.teardown(() => { socket.destroy() })
  const request = `GET /token/webrtc HTTP/1.1\r\nHost: x\r\nX-API-Key: ${API_KEY}\r\n\r\n`
  const total = 1500
  const statuses = new Map<string, number>()
  let closeHeaders = 0
  let buffered = ''
  let answered = 0
  await new Promise<void>((resolve, reject) => {
    socket.on('error', reject)
    socket.on('close', () => { reject(new Error(`the server closed the connection after ${answered} answers`)) })
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1')
      // Each answer: a head, then Content-Length bytes of body.
      for (;;) {
        const end = buffered.indexOf('\r\n\r\n')
        if (end === -1) return
        const head = buffered.slice(0, end)
        const length = Number(/^content-length: (\d+)$/im.exec(head)?.[1] ?? 0)
        if (buffered.length < end + 4 + length) return
        buffered = buffered.slice(end + 4 + length)
        const status = head.slice(9, 12)
        statuses.set(status, (statuses.get(status) ?? 0) + 1)
        if (/^connection: close$/im.test(head)) closeHeaders++
        answered++
        // Like a load generator that ignores `Connection: close`: the next request regardless.
        if (answered === total) resolve()
        else socket.write(request)
      }
    })
    socket.write(request)
  })
  t.same(Object.fromEntries(statuses), { 200: total }, 'all 200, no 503')
  t.equal(closeHeaders, 0, 'the server never asked to close the connection')
})
