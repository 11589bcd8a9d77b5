// The README's promise: `npm run demo` prints a curl line that returns a token. Runs the demo
// script as a child process on a free port, follows the printed line over real HTTP, stops it.
import t, { type Test } from 'tap'
import { once } from 'node:events'
import { spawnDemo, type DemoProcess } from '../helpers/demo.js'

const CURL = /curl -s -H 'X-API-Key: ([^']+)' (\S+)/

interface Demo extends DemoProcess { key: string, url: string }

/** Starts the demo with `args` and waits for its whole banner, which ends with "Press Ctrl+C to stop.". */
async function startDemo (t: Test, args: string[] = []): Promise<Demo> {
  const demo = spawnDemo(t, args)
  const [key, url] = await demo.printed((out) => {
    const m = CURL.exec(out)
    return m !== null && out.includes('Press Ctrl+C to stop.') ? [m[1] as string, m[2] as string] : undefined
  })
  return { ...demo, key, url }
}

async function stopDemo (t: Test, { child }: Demo): Promise<void> {
  child.kill('SIGTERM')
  const [code] = await once(child, 'exit')
  t.equal(code, 0, 'exits cleanly on SIGTERM')
}

t.test('npm run demo prints a curl line that returns a token', async (t) => {
  const demo = await startDemo(t)
  const { key, url } = demo
  t.match(url, /^http:\/\/127\.0\.0\.1:\d+\/token\/webrtc$/)

  const res = await fetch(url, { headers: { 'x-api-key': key } })
  t.equal(res.status, 200)
  const body = await res.json() as { access_token: string, upstream: string, expires_in: number }
  t.equal(body.upstream, 'global')
  t.ok(body.access_token.length > 20)
  t.ok(body.expires_in > 500)
  t.notMatch(demo.stdout(), body.access_token, 'the token is not logged')

  // The demo runs the per-user endpoint tokens mode: the account-wide bandwidth token stays on the server.
  const bw = await fetch(`${url}?upstream=bandwidth`, { headers: { 'x-api-key': key } })
  t.equal(bw.status, 400)
  t.equal((await bw.json() as { code: string }).code, 'UNKNOWN_UPSTREAM')

  // Past the service's default of 60 a minute: a load generator gets only 200s from the demo.
  t.match(demo.stdout(), 'Each caller may make 1,000,000 requests a minute here, so a load generator gets only 200s')
  const statuses = new Set<number>()
  for (let i = 0; i < 60; i++) {
    const more = await fetch(url, { headers: { 'x-api-key': key } })
    await more.arrayBuffer()
    statuses.add(more.status)
  }
  t.same([...statuses], [200], '62 requests in a minute, every one a 200')

  await stopDemo(t, demo)
})

t.test('--rate-limit sets the per-caller limit', async (t) => {
  const demo = await startDemo(t, ['--rate-limit', '2'])
  t.match(demo.stdout(), 'Each caller may make 2 requests a minute here; past that it gets 429 with Retry-After')
  const statuses: number[] = []
  for (let i = 0; i < 3; i++) {
    const res = await fetch(demo.url, { headers: { 'x-api-key': demo.key } })
    await res.arrayBuffer()
    statuses.push(res.status)
  }
  t.same(statuses, [200, 200, 429])
  await stopDemo(t, demo)
})

t.test('a bad --rate-limit stops the demo with a message', async (t) => {
  const { child, stderr } = spawnDemo(t, ['--rate-limit', '0'])
  const [code] = await once(child, 'exit')
  t.equal(code, 1)
  t.match(stderr(), 'demo: --rate-limit must be a whole number of requests per caller per minute')
})
