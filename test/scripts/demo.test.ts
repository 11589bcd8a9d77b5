// The README's promise: `npm run demo` prints a curl line that returns a token. Runs the demo
// script as a child process on a free port, follows the printed line over real HTTP, stops it.
import t, { type Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { childEnv } from '../helpers/child-env.js'

const CURL = /curl -s -H 'X-API-Key: ([^']+)' (\S+)/

interface Demo { child: ChildProcess, key: string, url: string, out: () => string }

/** Starts the demo with `args`, waits for its curl line; the child is killed at teardown. */
async function startDemo (t: Test, args: string[] = []): Promise<Demo> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/demo.ts', '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: childEnv()
  })
  const killTimer = setTimeout(() => child.kill('SIGKILL'), 30_000)
  t.teardown(() => { clearTimeout(killTimer); if (child.exitCode === null) child.kill('SIGKILL') })

  let out = ''
  const [key, url] = await new Promise<[string, string]>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      // The banner ends with this line: everything above it has been printed.
      const m = CURL.exec(out)
      if (m !== null && out.includes('Press Ctrl+C to stop.')) resolve([m[1] as string, m[2] as string])
    })
    child.once('exit', (code) => { reject(new Error(`demo exited early with ${String(code)}`)) })
  })
  return { child, key, url, out: () => out }
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
  t.notMatch(demo.out(), body.access_token, 'the token is not logged')

  const bw = await fetch(`${url}?upstream=bandwidth`, { headers: { 'x-api-key': key } })
  t.equal((await bw.json() as { upstream: string }).upstream, 'bandwidth')

  // Past the service's default of 60 a minute: a load generator gets only 200s from the demo.
  t.match(demo.out(), 'Each caller may make 1,000,000 requests a minute here')
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
  t.match(demo.out(), 'Each caller may make 2 requests a minute here')
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
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/demo.ts', '--port', '0', '--rate-limit', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: childEnv()
  })
  const killTimer = setTimeout(() => child.kill('SIGKILL'), 30_000)
  t.teardown(() => { clearTimeout(killTimer); if (child.exitCode === null) child.kill('SIGKILL') })
  let err = ''
  child.stderr.on('data', (chunk: Buffer) => { err += chunk.toString() })
  const [code] = await once(child, 'exit')
  t.equal(code, 1)
  t.match(err, 'demo: --rate-limit must be a whole number of requests per caller per minute')
})
