// Shared wiring of the endpoint-token tests: the upstream emulator on loopback (its bandwidth
// token endpoint and its BRTC Endpoints API), and the app built on it through build(t) with the
// real fetch, so every test talks to the provider over real HTTP. Only the bandwidth upstream is
// enabled (the mode needs it; the global one would reach for a host that does not exist).
import type { Test } from 'tap'
import { DEFAULT_BRTC, type EmulatorOptions, type UpstreamEmulator } from '../../emulator/upstream-emulator.js'
import { API_KEY, BANDWIDTH_SECRET, OTHER_KEY, build, type BuildOptions, type Built } from './build.js'
import { bandwidthToken, startEmulator } from './emulator.js'
import type { Clock } from '../../src/lib/clock.js'

export const ACCOUNT = DEFAULT_BRTC.accountId
export const KEY = { 'x-api-key': API_KEY }
export const OTHER = { 'x-api-key': OTHER_KEY }
export const ROUTE = '/endpoints/webrtc'
/** The bandwidth client BASE_ENV gives the app, and startBrtcEmulator() the emulator. */
export const BRTC_CLIENT = { clientId: 'bw-client', clientSecret: BANDWIDTH_SECRET }

/** The emulator, on 127.0.0.1 with the bandwidth credentials BASE_ENV gives the app; closed on teardown. */
export async function startBrtcEmulator (t: Test, options: EmulatorOptions = {}): Promise<UpstreamEmulator> {
  return await startEmulator(t, { ...options, tenants: { bandwidth: BRTC_CLIENT, ...options.tenants } })
}

/** The environment that points the app's bandwidth upstream and the BRTC mode at the emulator. */
export function brtcEnv (emulator: UpstreamEmulator, env: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    GLOBAL_WEBRTC_CLIENT_ID: undefined,
    GLOBAL_WEBRTC_CLIENT_SECRET: undefined,
    DEFAULT_UPSTREAM: undefined,
    BANDWIDTH_TOKEN_URL: emulator.tokenUrl('bandwidth'),
    BRTC_API_URL: emulator.brtcApiUrl,
    BRTC_ACCOUNT_ID: ACCOUNT,
    ...env
  }
}

export interface RigOptions extends Omit<BuildOptions, 'env'> {
  env?: Record<string, string | undefined>
  clock?: Clock
  emulator?: UpstreamEmulator
}

export interface Rig extends Built {
  emulator: UpstreamEmulator
}

/** The app in BRTC mode against the emulator (a new one unless given), over real HTTP. */
export async function rig (t: Test, opts: RigOptions = {}): Promise<Rig> {
  const emulator = opts.emulator ?? await startBrtcEmulator(t)
  const { env, clock, emulator: _given, ...rest } = opts
  const built = await build(t, {
    ...rest,
    env: brtcEnv(emulator, env),
    tokens: { fetch: globalThis.fetch, ...(clock !== undefined && { clock }), ...rest.tokens },
    brtc: { fetch: globalThis.fetch, ...rest.brtc }
  })
  return { ...built, emulator }
}

/**
 * Creates an endpoint on the emulator's account directly, as something else on the account
 * would (another app, Bandwidth's sample server), bypassing the service.
 */
export async function createDirectly (emulator: UpstreamEmulator, fields: Record<string, unknown> = {}): Promise<string> {
  const res = await fetch(`${emulator.brtcApiUrl}/accounts/${ACCOUNT}/endpoints`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await bandwidthToken(emulator, BRTC_CLIENT)}`, 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'WEBRTC', direction: 'BIDIRECTIONAL', ...fields })
  })
  if (res.status !== 201) throw new Error(`direct create: ${res.status}`)
  return ((await res.json()) as { data: { endpointId: string } }).data.endpointId
}

/** Deletes an endpoint directly, bypassing the service (another tab's request, the provider's own cleanup). */
export async function deleteDirectly (emulator: UpstreamEmulator, endpointId: string): Promise<number> {
  const res = await fetch(`${emulator.brtcApiUrl}/accounts/${ACCOUNT}/endpoints/${endpointId}`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${await bandwidthToken(emulator, BRTC_CLIENT)}` }
  })
  await res.arrayBuffer()
  return res.status
}
