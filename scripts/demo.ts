// `npm run demo`: the one command a newcomer runs. Starts, on loopback, the upstream emulator
// (emulator/) and the service wired to it with a freshly generated API key, then prints a
// ready-to-paste curl line. Dev only: `npm start` never loads this file or the emulator.
//
//   npm run demo                # service on 127.0.0.1:8080 (a free port if 8080 is taken)
//   npm run demo -- --port 0    # always a free port
import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import Fastify from 'fastify'
import app from '../src/app.js'
import { loadConfig } from '../src/config/load-config.js'
import { serverOptions } from '../src/server-options.js'
import { createUpstreamEmulator } from '../emulator/upstream-emulator.js'

const { values } = parseArgs({ options: { port: { type: 'string', default: '8080' } } })
const wantedPort = Number(values.port)

const secret = (): string => randomBytes(24).toString('base64url')
const credentials = {
  bandwidth: { clientId: 'demo-bandwidth', clientSecret: secret() },
  global: { clientId: 'demo-global', clientSecret: secret() }
}
const emulator = createUpstreamEmulator({ tenants: credentials })
await emulator.listen({ host: '127.0.0.1', port: 0 })

const apiKey = randomBytes(32).toString('base64url')
const config = loadConfig({
  HOST: '127.0.0.1',
  PORT: String(wantedPort),
  LOG_LEVEL: 'info',
  BANDWIDTH_CLIENT_ID: credentials.bandwidth.clientId,
  BANDWIDTH_CLIENT_SECRET: credentials.bandwidth.clientSecret,
  BANDWIDTH_TOKEN_URL: emulator.tokenUrl('bandwidth'),
  GLOBAL_WEBRTC_CLIENT_ID: credentials.global.clientId,
  GLOBAL_WEBRTC_CLIENT_SECRET: credentials.global.clientSecret,
  GLOBAL_WEBRTC_TOKEN_URL: emulator.tokenUrl('global'),
  DEFAULT_UPSTREAM: 'global',
  API_KEYS: `demo:${apiKey}`
})

const fastify = Fastify(serverOptions(config))
await fastify.register(app, { config })

async function listen (): Promise<string> {
  try {
    return await fastify.listen({ host: config.host, port: config.port })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || config.port === 0) throw err
    return await fastify.listen({ host: config.host, port: 0 })
  }
}
const url = await listen()

let stopping = false
async function stop (): Promise<void> {
  if (stopping) return
  stopping = true
  await fastify.close()
  await emulator.close()
}
const onSignal = (): void => {
  stop().catch((err: unknown) => { process.stderr.write(`demo: shutdown failed: ${String(err)}\n`); process.exitCode = 1 })
}
process.once('SIGINT', onSignal)
process.once('SIGTERM', onSignal)

process.stdout.write([
  '',
  'Demo running: the token service on ' + url + ', the provider emulator on ' + emulator.url,
  'Get a WebRTC token (global upstream by default; add ?upstream=bandwidth for the other):',
  '',
  `  curl -s -H 'X-API-Key: ${apiKey}' ${url}/token/webrtc`,
  '',
  'Press Ctrl+C to stop.',
  ''
].join('\n') + '\n')
