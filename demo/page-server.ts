// The demo page's own web server, for `npm run demo` and the browser test that screenshots the
// page. It serves demo/index.html, demo.js and demo.css from a loopback origin of its own, the
// way a real app lives on another origin than the token service, plus /config.json with the
// service URL, the demo's API key and whether per-user endpoint tokens are on. Dev only: the
// service (src/app.ts) never serves the page.
//
// A strict CSP with no inline script: scripts only from this origin and the service's (the
// token client is loaded from the service), requests only to those two. Nothing is cached,
// since /config.json carries the demo key.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { readFile } from 'node:fs/promises'
import { baseUrl } from '../emulator/upstream-emulator.js'

export interface DemoPageSettings {
  /** The token service's base URL, e.g. http://127.0.0.1:8080. */
  serviceUrl: string
  apiKey: string
  /** The upstream the page asks for unless `?upstream=` says otherwise. */
  upstream: string
  /** Per-user endpoint tokens are on (BRTC_ACCOUNT_ID): the page shows its endpoint panel. */
  endpoints?: boolean
}

export interface DemoPageServer {
  /** This server's origin, e.g. http://127.0.0.1:41234: list it in CORS_ORIGINS. */
  readonly origin: string
  /** The page, for a browser. */
  readonly url: string
  /** Called once the service listens; /config.json answers 503 until then. */
  configure: (settings: DemoPageSettings) => void
  close: () => Promise<void>
}

const FILES: Record<string, { name: string, type: string }> = {
  '/': { name: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { name: 'index.html', type: 'text/html; charset=utf-8' },
  '/demo.js': { name: 'demo.js', type: 'text/javascript; charset=utf-8' },
  '/demo.css': { name: 'demo.css', type: 'text/css; charset=utf-8' }
}

export function contentSecurityPolicy (serviceUrl: string | undefined): string {
  const service = serviceUrl === undefined ? '' : ` ${new URL(serviceUrl).origin}`
  return [
    "default-src 'none'",
    `script-src 'self'${service}`,
    `connect-src 'self'${service}`,
    "style-src 'self'",
    "img-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'"
  ].join('; ')
}

export async function startDemoPageServer ({ host = '127.0.0.1', port = 0 } = {}): Promise<DemoPageServer> {
  let settings: DemoPageSettings | undefined
  // Read up front: a missing file fails the start, not a request.
  const files = new Map(await Promise.all(Object.entries(FILES).map(async ([path, { name, type }]) =>
    [path, { type, body: await readFile(new URL(name, import.meta.url)) }] as const)))

  const server = createServer((req, res) => {
    const path = new URL(req.url as string, 'http://demo').pathname
    res.setHeader('cache-control', 'no-store')
    res.setHeader('x-content-type-options', 'nosniff')
    res.setHeader('referrer-policy', 'no-referrer')
    res.setHeader('content-security-policy', contentSecurityPolicy(settings?.serviceUrl))
    const send = (status: number, type: string, body: string | Buffer): void => {
      res.writeHead(status, { 'content-type': type }).end(req.method === 'HEAD' ? undefined : body)
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD')
      return send(405, 'text/plain; charset=utf-8', 'Method Not Allowed\n')
    }
    // No icon: answer rather than 404, so the browser console stays clean.
    if (path === '/favicon.ico') {
      res.writeHead(204).end()
      return
    }
    if (path === '/config.json') {
      if (settings === undefined) return send(503, 'text/plain; charset=utf-8', 'The token service is not up yet\n')
      return send(200, 'application/json; charset=utf-8', JSON.stringify(settings))
    }
    const file = files.get(path)
    if (file === undefined) return send(404, 'text/plain; charset=utf-8', 'Not Found\n')
    send(200, file.type, file.body)
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const origin = baseUrl(server.address() as AddressInfo)

  return {
    origin,
    url: `${origin}/`,
    configure (next) { settings = { ...next } },
    async close () {
      if (!server.listening) return
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeAllConnections()
      await closed
    }
  }
}
