// A loopback proxy in front of the provider emulator, so the benchmark controls when the
// provider answers: `delay` adds a fixed latency (a real provider is a network hop away), `hold`
// keeps every token request waiting until release(). The stampede uses `hold` to keep the
// service's first upstream request in flight until all 10,000 callers have arrived. Records the
// time of every provider request, for the refresh-under-load windows.
import { createServer, type IncomingMessage } from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { performance } from 'node:perf_hooks'

export interface ProviderCall { startedAt: number, endedAt: number, path: string }

export interface Gate {
  /** Token URL to configure instead of the emulator's, e.g. gate.url('/global/api/v1/oauth2/token'). */
  url (path: string): string
  hold (): void
  delay (ms: number): void
  /** Answer every held request and stop holding. */
  release (): void
  /** Releases, then resolves once every request received has been forwarded and answered. */
  drain (): Promise<void>
  /** Provider requests waiting in hold() right now. */
  readonly pending: number
  /** Provider requests received and not yet answered (held, delayed or forwarded). */
  readonly inFlight: number
  readonly calls: ProviderCall[]
  close (): Promise<void>
}

async function readBody (req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

export async function createGate (upstreamBase: string): Promise<Gate> {
  let holding = false
  let delayMs = 0
  let waiters: Array<() => void> = []
  const calls: ProviderCall[] = []
  const inFlight = new Set<Promise<void>>()

  const wait = async (): Promise<void> => {
    if (holding) await new Promise<void>((resolve) => waiters.push(resolve))
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs))
  }

  const server = createServer((req, res) => {
    const startedAt = performance.now()
    const forward = async (): Promise<void> => {
      const body = await readBody(req)
      await wait()
      const headers: Record<string, string> = {}
      for (const name of ['content-type', 'accept', 'authorization']) {
        const value = req.headers[name]
        if (typeof value === 'string') headers[name] = value
      }
      const answer = await fetch(upstreamBase + (req.url ?? '/'), { method: req.method, headers, body })
      const text = await answer.text()
      res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' }).end(text)
      calls.push({ startedAt, endedAt: performance.now(), path: req.url ?? '' })
    }
    const done = forward().catch(() => { res.destroy() }).finally(() => inFlight.delete(done))
    inFlight.add(done)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo

  const release = (): void => {
    holding = false
    const released = waiters
    waiters = []
    for (const resolve of released) resolve()
  }

  const drain = async (): Promise<void> => {
    release()
    while (inFlight.size > 0) await Promise.all([...inFlight])
  }

  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    hold () { holding = true },
    delay (ms) { delayMs = ms },
    release,
    drain,
    get pending () { return waiters.length },
    get inFlight () { return inFlight.size },
    calls,
    async close () {
      await drain()
      server.closeAllConnections()
      server.close()
      await once(server, 'close')
    }
  }
}
