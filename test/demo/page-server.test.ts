// The demo page's server (demo/page-server.ts) over real loopback HTTP: the page, its script and
// styles under a strict CSP naming the service, /config.json only once configured, nothing
// cached, nothing but GET and HEAD. test/browser/demo-page.test.ts runs the page in Chromium.
import t from 'tap'
import { readFile } from 'node:fs/promises'
import { contentSecurityPolicy, startDemoPageServer } from '../../demo/page-server.js'

t.test('serves the page files with a strict CSP, and /config.json once configured', async (t) => {
  const server = await startDemoPageServer()
  t.teardown(server.close)
  t.match(server.origin, /^http:\/\/127\.0\.0\.1:\d+$/)
  t.equal(server.url, `${server.origin}/`)

  const early = await fetch(`${server.origin}/config.json`)
  t.equal(early.status, 503, 'not configured yet')
  t.equal(early.headers.get('content-security-policy'), contentSecurityPolicy(undefined))
  await early.text()

  const settings = { serviceUrl: 'http://127.0.0.1:8080', apiKey: 'demo-key', upstream: 'global' }
  server.configure(settings)
  const config = await fetch(`${server.origin}/config.json`)
  t.equal(config.status, 200)
  t.same(await config.json(), settings)
  t.equal(config.headers.get('cache-control'), 'no-store', 'the demo key is never cached')

  for (const [path, file, type] of [
    ['/', 'index.html', 'text/html; charset=utf-8'],
    ['/index.html', 'index.html', 'text/html; charset=utf-8'],
    ['/demo.js', 'demo.js', 'text/javascript; charset=utf-8'],
    ['/demo.css', 'demo.css', 'text/css; charset=utf-8']
  ] as const) {
    const res = await fetch(`${server.origin}${path}`)
    t.equal(res.status, 200, path)
    t.equal(res.headers.get('content-type'), type)
    t.equal(await res.text(), await readFile(new URL(`../../demo/${file}`, import.meta.url), 'utf8'))
    t.equal(res.headers.get('x-content-type-options'), 'nosniff')
    t.equal(res.headers.get('referrer-policy'), 'no-referrer')
    t.equal(res.headers.get('content-security-policy'), contentSecurityPolicy(settings.serviceUrl))
  }

  const head = await fetch(`${server.origin}/`, { method: 'HEAD' })
  t.equal(head.status, 200)
  t.equal(await head.text(), '')
  const icon = await fetch(`${server.origin}/favicon.ico`)
  t.equal(icon.status, 204)
  const missing = await fetch(`${server.origin}/secrets.txt`)
  t.equal(missing.status, 404)
  await missing.text()
  const post = await fetch(`${server.origin}/config.json`, { method: 'POST' })
  t.equal(post.status, 405)
  t.equal(post.headers.get('allow'), 'GET, HEAD')
  await post.text()

  await server.close()
  await t.resolves(server.close(), 'close() is idempotent')
})

t.test('the CSP allows scripts and requests only from the page and the service, and nothing inline', async (t) => {
  const csp = contentSecurityPolicy('http://127.0.0.1:8080/ignored/path')
  t.match(csp, /^default-src 'none'; /)
  t.match(csp, /script-src 'self' http:\/\/127\.0\.0\.1:8080;/)
  t.match(csp, /connect-src 'self' http:\/\/127\.0\.0\.1:8080;/)
  t.notMatch(csp, /unsafe-inline|unsafe-eval|\*/)
  t.match(csp, /frame-ancestors 'none'/)
})

t.test('the page itself has no inline script or style', async (t) => {
  const html = await readFile(new URL('../../demo/index.html', import.meta.url), 'utf8')
  t.notMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'every script has a src')
  t.notMatch(html, /\son\w+=/i, 'no inline event handlers')
  t.notMatch(html, /<style|style=/i, 'no inline styles')
})
