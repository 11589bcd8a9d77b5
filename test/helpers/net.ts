// Loopback ports for tests: a free one to listen on, and one nothing listens on (a connection to
// it is refused at once).
import { createServer, type AddressInfo } from 'node:net'

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
