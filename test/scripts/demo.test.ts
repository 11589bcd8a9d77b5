// The README's promise: `npm run demo` prints a curl line that returns a token. Runs the demo
// script as a child process on a free port, follows the printed line over real HTTP, stops it.
import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { childEnv } from '../helpers/child-env.js'

t.test('npm run demo prints a curl line that returns a token', async (t) => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/demo.ts', '--port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: childEnv()
  })
  const killTimer = setTimeout(() => child.kill('SIGKILL'), 30_000)
  t.teardown(() => { clearTimeout(killTimer); if (child.exitCode === null) child.kill('SIGKILL') })

  let out = ''
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      const m = /curl -s -H 'X-API-Key: ([^']+)' (\S+)/.exec(out)
      if (m !== null) resolve(m[0])
    })
    child.once('exit', (code) => { reject(new Error(`demo exited early with ${String(code)}`)) })
  })
  const [, key, url] = /curl -s -H 'X-API-Key: ([^']+)' (\S+)/.exec(line) as unknown as [string, string, string]
  t.match(url, /^http:\/\/127\.0\.0\.1:\d+\/token\/webrtc$/)

  const res = await fetch(url, { headers: { 'x-api-key': key } })
  t.equal(res.status, 200)
  const body = await res.json() as { access_token: string, upstream: string, expires_in: number }
  t.equal(body.upstream, 'global')
  t.ok(body.access_token.length > 20)
  t.ok(body.expires_in > 500)
  t.notMatch(out, body.access_token, 'the token is not logged')

  const bw = await fetch(`${url}?upstream=bandwidth`, { headers: { 'x-api-key': key } })
  t.equal((await bw.json() as { upstream: string }).upstream, 'bandwidth')

  child.kill('SIGTERM')
  const [code] = await once(child, 'exit')
  t.equal(code, 0, 'exits cleanly on SIGTERM')
})
