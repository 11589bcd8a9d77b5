// Real-browser tests: Debian's chromium driven by playwright-core, headless, with the flags
// that keep it off the network (loopback only) and quiet. Without /usr/bin/chromium the tests
// are skipped with a visible reason on a developer machine, and fail in CI (CI=true), where
// .ci/run installs it. Also a tiny static server, so a test page has an origin of its own.
import { existsSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Test } from 'tap'
import { chromium, type Browser } from 'playwright-core'

export const CHROMIUM_PATH = '/usr/bin/chromium'

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic'
]

/**
 * Why the browser tests cannot run here, or undefined when they must. In CI a missing browser
 * is not a reason to skip: the launch fails and says what to install.
 */
export function browserSkipReason (path = CHROMIUM_PATH, ci = process.env.CI === 'true'): string | undefined {
  if (ci || existsSync(path)) return undefined
  return `${path} not found: install Debian's chromium (apt-get install chromium) to run the browser tests`
}

/** Chromium, closed on teardown. */
export async function launchChromium (t: Test, path = CHROMIUM_PATH): Promise<Browser> {
  if (!existsSync(path)) throw new Error(`${path} not found: .ci/run must install Debian's chromium (apt-get install chromium)`)
  const browser = await chromium.launch({ executablePath: path, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 })
  t.teardown(async () => { await browser.close() })
  return browser
}

export interface StaticOrigin {
  /** e.g. http://127.0.0.1:41234 */
  origin: string
  close: () => Promise<void>
}

/** Serves fixed files on 127.0.0.1, a free port: a page origin of its own. Closed on teardown. */
export async function staticOrigin (t: Test, files: Record<string, { type: string, body: string | Buffer }>): Promise<StaticOrigin> {
  const server = createServer((req, res) => {
    const file = files[new URL(req.url as string, 'http://x').pathname]
    if (file === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found')
      return
    }
    res.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-store' }).end(file.body)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const close = async (): Promise<void> => {
    if (!server.listening) return
    const closed = new Promise<void>((resolve) => server.close(() => resolve()))
    server.closeAllConnections()
    await closed
  }
  t.teardown(close)
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close }
}
