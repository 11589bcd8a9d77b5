// `npm run demo`: the one command a newcomer runs. Starts, on loopback, the upstream emulator
// (emulator/) and the service wired to it with a freshly generated API key, then prints a
// ready-to-paste curl line. It also serves the demo page (demo/) from an origin of its own,
// allowed in CORS_ORIGINS, with the browser token client compiled fresh from src/client/.
// Per-user endpoint tokens (BRTC_ACCOUNT_ID) are on, against the emulator's BRTC API: the page
// creates, lists and deletes its endpoints, and the sweep runs every 60 s.
// Dev only: `npm start` never loads this file, the emulator or the page.
//
//   npm run demo                          # service on 127.0.0.1:8080 (a free port if 8080 is taken)
//   npm run demo -- --port 0              # always a free port
//   npm run demo -- --token-lifetime 40   # emulated tokens live 40 s: watch the page refresh
//   npm run demo -- --rate-limit 60       # the service's default per-caller limit (the demo's is 1,000,000 a minute)
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import Fastify from 'fastify'
import pretty from 'pino-pretty'
import app from '../src/app.js'
import { loadConfig } from '../src/config/load-config.js'
import { serverOptions } from '../src/server-options.js'
import { createUpstreamEmulator } from '../emulator/upstream-emulator.js'
import { emulatorUpstreamEnv } from '../emulator/service-env.js'
import { compileClient } from './build-client.js'
import { startDemoPageServer } from '../demo/page-server.js'

// The demo's per-caller limit is high so that a load generator pointed at the demo with its
// default options (autocannon: 100 connections, one caller) gets only 200s; `--rate-limit 60`
// shows the service's default. The per-address budget of failed authentications shares the
// variable, so the demo, on loopback only, raises it too.
const DEMO_RATE_LIMIT = '1000000'

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '8080' },
    'token-lifetime': { type: 'string' },
    'rate-limit': { type: 'string', default: DEMO_RATE_LIMIT }
  }
})
const wantedPort = Number(values.port)
const rateLimit = values['rate-limit']
if (!/^[1-9]\d{0,8}$/.test(rateLimit)) {
  process.stderr.write('demo: --rate-limit must be a whole number of requests per caller per minute, from 1 to 999999999\n')
  process.exit(1)
}
const tokenLifetime = values['token-lifetime'] === undefined ? undefined : Number(values['token-lifetime'])
if (tokenLifetime !== undefined && !(Number.isInteger(tokenLifetime) && tokenLifetime > 31)) {
  process.stderr.write('demo: --token-lifetime must be whole seconds above 31 (the global upstream stops 30 s before expiry)\n')
  process.exit(1)
}

const secret = (): string => randomBytes(24).toString('base64url')
const credentials = {
  bandwidth: { clientId: 'demo-bandwidth', clientSecret: secret() },
  global: { clientId: 'demo-global', clientSecret: secret() }
}
const emulator = createUpstreamEmulator({ tenants: credentials })
await emulator.listen({ host: '127.0.0.1', port: 0 })
if (tokenLifetime !== undefined) for (const tenant of ['bandwidth', 'global'] as const) emulator.setExpiresIn(tenant, tokenLifetime)

// The demo page lives on its own origin, as a real app would; the service allows it by CORS.
const clientDir = await mkdtemp(join(tmpdir(), 'token-client-'))
const clientFile = await compileClient(clientDir)
const page = await startDemoPageServer({ host: '127.0.0.1', port: 0 })

const apiKey = randomBytes(32).toString('base64url')
const config = loadConfig({
  HOST: '127.0.0.1',
  PORT: String(wantedPort),
  LOG_LEVEL: 'info',
  ...emulatorUpstreamEnv(emulator, credentials, { brtc: true }),
  BRTC_SWEEP_INTERVAL_SECONDS: '60',
  API_KEYS: `demo:${apiKey}`,
  RATE_LIMIT_MAX: rateLimit,
  CORS_ORIGINS: page.origin
})

// Human-readable log lines for the demo; production writes one JSON object per line.
const options = serverOptions(config)
const fastify = Fastify({ ...options, logger: { ...(options.logger as object), stream: pretty({ translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' }) } })
await fastify.register(app, { config, client: { file: clientFile } })

async function listen (): Promise<string> {
  try {
    return await fastify.listen({ host: config.host, port: config.port })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || config.port === 0) throw err
    return await fastify.listen({ host: config.host, port: 0 })
  }
}
const url = await listen()
page.configure({ serviceUrl: url, apiKey, upstream: 'global', endpoints: true })

let stopping = false
async function stop (): Promise<void> {
  if (stopping) return
  stopping = true
  await fastify.close()
  await page.close()
  await emulator.close()
  await rm(clientDir, { recursive: true, force: true })
}
const onSignal = (): void => {
  stop().catch((err: unknown) => { process.stderr.write(`demo: shutdown failed: ${String(err)}\n`); process.exitCode = 1 })
}
process.once('SIGINT', onSignal)
process.once('SIGTERM', onSignal)

process.stdout.write([
  '',
  'Demo running: the token service on ' + url + ', the provider emulator on ' + emulator.url,
  'Get a WebRTC token from the global upstream (the bandwidth upstream\'s account-wide token stays on the server):',
  '',
  `  curl -s -H 'X-API-Key: ${apiKey}' ${url}/token/webrtc`,
  '',
  'Or a per-user endpoint token, made with that account token; list and delete with GET and DELETE:',
  '',
  `  curl -s -X POST -H 'X-API-Key: ${apiKey}' ${url}/endpoints/webrtc`,
  '',
  'Open the demo page: a browser app on another origin using the token client:',
  '',
  `  ${page.url}`,
  '',
  `Each caller may make ${Number(rateLimit).toLocaleString('en-US')} requests a minute here` +
    (rateLimit === DEMO_RATE_LIMIT ? ', so a load generator gets only 200s' : '; past that it gets 429 with Retry-After'),
  '(the service\'s default is 60; npm run demo -- --rate-limit 60 shows it).',
  '',
  'Press Ctrl+C to stop.',
  ''
].join('\n') + '\n')
