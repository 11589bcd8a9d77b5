// Loopback sockets for tests: a free port to listen on, one nothing listens on (a connection to
// it is refused at once), and raw bytes exchanged with a server, for what no HTTP client sends.
import { connect, createServer, type AddressInfo } from 'node:net'

/** A port free a moment ago on 127.0.0.1. */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      server.close(() => { resolve(port) })
    })
  })
}

/** A port that was free a moment ago and is closed now: connecting to it is refused. */
export const closedPort = freePort

/** Per exchange, in real time: the server answers or closes long before; this only bounds a hang. */
const EXCHANGE_DEADLINE_MS = 10_000

/** Sends bytes on a fresh connection to 127.0.0.1 and resolves to everything the server sent back (latin1). */
export async function exchange (port: number, bytes: Buffer | string): Promise<string> {
  return await new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    const socket = connect({ host: '127.0.0.1', port })
    const timer = setTimeout(() => { socket.destroy(new Error('no answer in time')) }, EXCHANGE_DEADLINE_MS)
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      // The server may reset a connection it refused before we finished writing.
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') resolve(Buffer.concat(chunks).toString('latin1'))
      else reject(err)
    })
    socket.on('close', () => {
      clearTimeout(timer)
      resolve(Buffer.concat(chunks).toString('latin1'))
    })
    socket.end(bytes)
  })
}
