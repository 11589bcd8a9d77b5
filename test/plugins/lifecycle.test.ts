// The lifecycle plugin (src/plugins/lifecycle.ts) on a listening app, over raw sockets (what is
// tested is what reaches the wire): closing the app ends a connection that never sent a byte at
// once, and one still sending a request's body after SLOW_BODY_MS with a 408 in the contract's
// shape, so close() never waits on a slow client.
import t from 'tap'
import type { AddressInfo } from 'node:net'
import { SLOW_BODY_MS } from '../../src/plugins/lifecycle.js'
import { API_KEY } from '../helpers/build.js'
import { ROUTE, rig } from '../helpers/brtc-rig.js'
import { exchange, openConnection } from '../helpers/net.js'

t.test('closing: an idle connection is ended, a request still sending its body gets a 408 and close() ends', async (t) => {
  const { app } = await rig(t)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  const idle = await openConnection(port, '')
  const slow = await openConnection(port, `POST ${ROUTE} HTTP/1.1\r\nHost: x\r\nX-API-Key: ${API_KEY}\r\nContent-Type: application/json\r\nContent-Length: 20\r\n\r\n{`)
  // Connections are read in the order they were accepted: an answer on a later one means the
  // service has read the slow request's head, and is waiting for the rest of its body.
  t.match(await exchange(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 200 /)

  await app.close()
  t.equal(await idle.answer, '', 'the idle connection was closed without an answer')
  const answer = await slow.answer
  t.match(answer, /^HTTP\/1\.1 408 /, `the slow sender got a 408 (after ${SLOW_BODY_MS} ms of draining)`)
  t.match(answer, /\r\n\r\n\{"statusCode":408,"code":"BAD_REQUEST",/, 'in the contract\'s error shape')
  t.match(answer, /\r\nx-request-id: [0-9a-f-]{36}\r\n/i, 'with a request id')
})
