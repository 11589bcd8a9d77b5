// Loopback sockets for tests: a free port to listen on, one nothing listens on (a connection to
// it is refused at once), raw bytes exchanged with a server, for what no HTTP client sends, and
// connections held open, as an idle or half-sent client holds them.
import { once } from 'node:events'
import { connect, createServer, type AddressInfo, type Socket } from 'node:net'

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

export interface Connection {
  socket: Socket
  /** Everything the server sent (latin1), once the connection has closed: a reset reads as a short answer. */
  answer: Promise<string>
  /** The socket's error, if it had one (a reset, or the exchange deadline). */
  error: () => NodeJS.ErrnoException | undefined
}

/**
 * A connection to 127.0.0.1 that sends `bytes` (maybe none) and stays open, as an idle or
 * half-sent client does. Resolves once the kernel holds the bytes: on loopback, in the
 * server's receive queue. Rejects if the connection is refused.
 */
export async function openConnection (port: number, bytes: Buffer | string = ''): Promise<Connection> {
  const socket = connect({ host: '127.0.0.1', port })
  const chunks: Buffer[] = []
  let failure: NodeJS.ErrnoException | undefined
  socket.on('data', (c: Buffer) => chunks.push(c))
  socket.on('error', (err: NodeJS.ErrnoException) => { failure = err })
  // On 'close', which follows an 'error' too (events.once would reject on the error instead).
  const answer = new Promise<string>((resolve) => { socket.once('close', () => { resolve(Buffer.concat(chunks).toString('latin1')) }) })
  await once(socket, 'connect')
  // The callback runs with an error instead when the server resets first: the answer says so.
  if (bytes.length > 0) await new Promise((resolve) => socket.write(bytes, resolve))
  return { socket, answer, error: () => failure }
}

/** Sends bytes on a fresh connection to 127.0.0.1 and resolves to everything the server sent back (latin1). */
export async function exchange (port: number, bytes: Buffer | string): Promise<string> {
  const { socket, answer, error } = await openConnection(port, bytes)
  socket.end()
  const timer = setTimeout(() => { socket.destroy(new Error('no answer in time')) }, EXCHANGE_DEADLINE_MS)
  const text = await answer
  clearTimeout(timer)
  const err = error()
  // The server may reset a connection it refused before we finished writing.
  if (err !== undefined && err.code !== 'ECONNRESET' && err.code !== 'EPIPE') throw err
  return text
}
