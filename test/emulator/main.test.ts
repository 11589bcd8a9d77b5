// The emulator's command line, run as it is used (node --import tsx emulator/main.ts): it
// prints one JSON line with its URLs, serves tokens for the credentials given in the
// environment and the BRTC API for the accounts given there, stops with exit 0 on SIGTERM/SIGINT even with a request hanging, and refuses
// bad settings with exit 1.
import t from 'tap'
import { spawn } from 'node:child_process'
import { childEnv } from '../helpers/child-env.js'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { basic, postControl, startEmulator } from '../helpers/emulator.js'
import { eventually } from '../helpers/eventually.js'
import { freePort } from '../helpers/net.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

interface Info { url: string, bandwidthTokenUrl: string, globalTokenUrl: string, brtcApiUrl: string }
interface Run { child: ChildProcess, info: Promise<Info>, exit: Promise<{ code: number | null, signal: string | null, stderr: string }> }

function run (args: string[], env: Record<string, string> = {}): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', 'emulator/main.ts', ...args], {
    cwd: ROOT, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const info = new Promise<Info>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
      if (stdout.includes('\n')) resolve(JSON.parse(stdout) as Info)
    })
    child.once('exit', () => reject(new Error(`exited before printing: ${stderr}`)))
  })
  info.catch(() => {})
  const exit = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as string | null, stderr }))
  return { child, info, exit }
}

t.test('serves tokens for the env credentials; SIGTERM with a hanging request: exit 0', async (t) => {
  const { child, info, exit } = run([], {
    EMULATOR_HOST: '127.0.0.1',
    EMULATOR_BANDWIDTH_CLIENT_ID: 'jdoe',
    EMULATOR_BANDWIDTH_CLIENT_SECRET: 'correct-horse-battery-staple',
    EMULATOR_GLOBAL_CLIENT_ID: 'hgranger',
    EMULATOR_GLOBAL_CLIENT_SECRET: 'Cr00k$h@nk$',
    EMULATOR_GLOBAL_EXPIRES_IN: '120',
    EMULATOR_BRTC_ACCOUNT_ID: '5500123, 5500124'
  })
  t.teardown(() => { child.kill('SIGKILL') })
  const { url, bandwidthTokenUrl, globalTokenUrl, brtcApiUrl } = await info
  t.match(url, /^http:\/\/127\.0\.0\.1:\d+$/)
  t.equal(bandwidthTokenUrl, `${url}/bandwidth/api/v1/oauth2/token`)
  t.equal(globalTokenUrl, `${url}/global/api/v1/oauth2/token`)
  t.equal(brtcApiUrl, `${url}/v2`)
  const form = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }
  const global = await fetch(globalTokenUrl, {
    method: 'POST', headers: { ...form, authorization: 'Basic aGdyYW5nZXI6Q3IwMGskaEBuayQ=' }, body: 'grant_type=client_credentials&scope=voice.webrtc'
  })
  t.match(await global.json(), { token_type: 'Bearer', expires_in: 120 })
  const bandwidth = await fetch(bandwidthTokenUrl, {
    method: 'POST', headers: { ...form, authorization: basic('jdoe', 'correct-horse-battery-staple') }, body: 'grant_type=client_credentials'
  })
  const { access_token: token, expires_in: expiresIn } = await bandwidth.json() as { access_token: string, expires_in: number }
  t.equal(expiresIn, 3600)
  const brtc = async (account: string): Promise<number> => (await fetch(`${brtcApiUrl}/accounts/${account}/endpoints`, {
    method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"type":"WEBRTC","direction":"INBOUND"}'
  })).status
  t.equal(await brtc('5500124'), 201, 'an account from EMULATOR_BRTC_ACCOUNT_ID')
  t.equal(await brtc('9900000'), 403, 'the default account is replaced')

  await postControl({ url }, 'fault', { tenant: 'bandwidth', fault: { kind: 'hang' } })
  const pending = fetch(bandwidthTokenUrl, { method: 'POST', headers: form, body: 'grant_type=client_credentials' })
  pending.catch(() => {})
  const requests = async (): Promise<number> => ((await (await fetch(`${url}/__emulator/stats`)).json()) as { requests: { bandwidth: number } }).requests.bandwidth
  await eventually(async () => await requests() === 2, 'the hung request reached the emulator')
  // It exits with the hung request still open (were it to wait for it, tap's timeout would end the test).
  child.kill('SIGTERM')
  t.match(await exit, { code: 0, signal: null })
  await t.rejects(pending, TypeError, 'the hung request is cut off')
})

t.test('--port, EMULATOR_PORT, SIGINT, control routes switched off', async (t) => {
  for (const [args, env] of [[['--port', 'PORT'], {}], [['--port=PORT'], {}], [[], { EMULATOR_PORT: 'PORT' }]] as const) {
    const port = String(await freePort())
    const { child, info, exit } = run(args.map((a) => a.replace('PORT', port)), {
      ...Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v.replace('PORT', port)])),
      EMULATOR_CONTROL_ROUTES: 'false'
    })
    t.teardown(() => { child.kill('SIGKILL') })
    const { url } = await info
    t.equal(url, `http://127.0.0.1:${port}`, JSON.stringify(args))
    t.equal((await fetch(`${url}/__emulator/stats`)).status, 404)
    child.kill('SIGINT')
    t.match(await exit, { code: 0 })
  }
})

t.test('bad settings: exit 1 with one line naming the problem', async (t) => {
  const busy = await startEmulator(t)
  const cases: Array<[string[], Record<string, string>, RegExp]> = [
    [['--port', 'abc'], {}, /port must be an integer/],
    [['--port=70000'], {}, /port must be an integer/],
    [[], { EMULATOR_PORT: '-1' }, /port must be an integer/],
    [[], { EMULATOR_BANDWIDTH_EXPIRES_IN: 'soon' }, /EMULATOR_BANDWIDTH_EXPIRES_IN must be a number/],
    [[], { EMULATOR_BRTC_ACCOUNT_ID: '5500123,acct' }, /EMULATOR_BRTC_ACCOUNT_ID must be account ids/],
    [[], { EMULATOR_PORT: new URL(busy.url).port }, /cannot listen: .*EADDRINUSE/]
  ]
  for (const [args, env, message] of cases) {
    const { exit } = run(args, env)
    const { code, stderr } = await exit
    t.equal(code, 1, JSON.stringify([args, env]))
    t.match(stderr, message)
    t.equal(stderr.trim().split('\n').length, 1)
  }
})
