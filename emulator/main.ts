// Command-line entry of the upstream emulator, for `npm run demo`, out-of-process tests and the
// compose `dev` profile. Never part of the production image's start command.
//
//   node --import tsx emulator/main.ts [--port N]
//
// Prints one JSON line on stdout once listening:
//   {"url":"http://127.0.0.1:PORT","bandwidthTokenUrl":"…","globalTokenUrl":"…","brtcApiUrl":"…/v2"}
// and stops cleanly (exit 0) on SIGTERM or SIGINT.
//
// Environment (all optional; the defaults are dev-only values):
//   EMULATOR_HOST (127.0.0.1; 0.0.0.0 inside a container), EMULATOR_PORT (0 = free port; `--port`
//   wins; PORT is deliberately not read, it is the service's own variable),
//   EMULATOR_BANDWIDTH_CLIENT_ID / _SECRET, EMULATOR_GLOBAL_CLIENT_ID / _SECRET,
//   EMULATOR_BANDWIDTH_EXPIRES_IN / EMULATOR_GLOBAL_EXPIRES_IN (seconds),
//   EMULATOR_CONTROL_ROUTES=false to turn off the dev-only /__emulator/* routes,
//   EMULATOR_BRTC_ACCOUNT_ID (9900000; several: comma-separated) for the BRTC API's accounts.
import { createUpstreamEmulator } from './upstream-emulator.js'
import type { Tenant, TenantConfig } from './upstream-emulator.js'

function fail (message: string): never {
  process.stderr.write(`upstream emulator: ${message}\n`)
  process.exit(1)
}

function portFrom (argv: string[], env: NodeJS.ProcessEnv): number {
  const i = argv.findIndex((arg) => arg === '--port' || arg.startsWith('--port='))
  const raw = i === -1 ? env.EMULATOR_PORT : (argv[i]?.split('=')[1] ?? argv[i + 1])
  const port = Number(raw ?? '0')
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail('the port must be an integer from 0 to 65535')
  return port
}

function tenantFromEnv (tenant: Tenant): Partial<TenantConfig> {
  const prefix = `EMULATOR_${tenant.toUpperCase()}_`
  const config: Partial<TenantConfig> = {}
  const id = process.env[`${prefix}CLIENT_ID`]
  const secret = process.env[`${prefix}CLIENT_SECRET`]
  const expiresIn = process.env[`${prefix}EXPIRES_IN`]
  if (id !== undefined) config.clientId = id
  if (secret !== undefined) config.clientSecret = secret
  if (expiresIn !== undefined) {
    config.expiresIn = Number(expiresIn)
    if (!Number.isFinite(config.expiresIn)) fail(`${prefix}EXPIRES_IN must be a number`)
  }
  return config
}

function brtcAccounts (raw: string | undefined): string[] | undefined {
  if (raw === undefined) return undefined
  const ids = raw.split(',').map((id) => id.trim())
  if (!ids.every((id) => /^[0-9]+$/.test(id))) fail('EMULATOR_BRTC_ACCOUNT_ID must be account ids (digits), comma-separated')
  return ids
}

const accountIds = brtcAccounts(process.env.EMULATOR_BRTC_ACCOUNT_ID)
const emulator = createUpstreamEmulator({
  tenants: { bandwidth: tenantFromEnv('bandwidth'), global: tenantFromEnv('global') },
  controlRoutes: process.env.EMULATOR_CONTROL_ROUTES !== 'false',
  brtc: accountIds === undefined ? {} : { accountId: accountIds }
})

const port = portFrom(process.argv.slice(2), process.env)
try {
  await emulator.listen({ host: process.env.EMULATOR_HOST ?? '127.0.0.1', port })
} catch (err) {
  fail(`cannot listen: ${(err as Error).message}`)
}

process.stdout.write(JSON.stringify({
  url: emulator.url,
  bandwidthTokenUrl: emulator.tokenUrl('bandwidth'),
  globalTokenUrl: emulator.tokenUrl('global'),
  brtcApiUrl: emulator.brtcApiUrl
}) + '\n')

// Once: a second signal gets Node's default handling (immediate exit). Should close() ever
// reject, the unhandled rejection ends the process with a non-zero code, which is right.
const stop = async (): Promise<void> => { await emulator.close() }
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
