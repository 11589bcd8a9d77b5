// Builds a TokenManager on a FakeClock and a capturing logger, closed at test end, so manager
// tests read as scenarios. Two shapes:
//   harness(t, handler)             the manager over a TokenSource stub: `handler` answers each
//                                   source fetch (the manager unit tests; no HTTP involved)
//   providerHarness(t, handler)     the manager over a real ProviderSource whose fetch is the
//                                   scripted fake provider (the whole chain, for Retry-After,
//                                   credentials, timeouts and what reaches logs)
import type { UpstreamConfig, UpstreamId } from '../../src/config/types.js'
import type { Clock } from '../../src/lib/clock.js'
import { AppError } from '../../src/lib/errors.js'
import { Secret } from '../../src/lib/secret.js'
import { TokenManager, type TokenManagerOptions } from '../../src/token/manager.js'
import { ProviderSource } from '../../src/token/sources/provider.js'
import {
  UpstreamFetchError, type FetchOutcome, type TokenSource, type UpstreamToken
} from '../../src/token/types.js'
import type { UpstreamErrorClass } from '../../src/lib/errors.js'
import { captureLogger } from './capture-logger.js'
import { FakeClock } from './fake-clock.js'
import { scriptedProvider, type Handler } from './fake-provider.js'
import { rejection } from './rejection.js'

export const CLIENT_SECRET = 'client-secret-VALUE-0123456789'

export function upstreamConfig (id: UpstreamId = 'bandwidth', over: Partial<UpstreamConfig> = {}): UpstreamConfig {
  return id === 'bandwidth'
    ? { id, tokenUrl: new URL('https://id.bandwidth.com/api/v1/oauth2/token'), clientId: 'bw-client', clientSecret: new Secret(CLIENT_SECRET), scope: undefined, expiryMarginSeconds: 10, ...over }
    : { id, tokenUrl: new URL('https://id.voxbone.com/api/v1/oauth2/token'), clientId: 'gl-client', clientSecret: new Secret(CLIENT_SECRET), scope: 'voice.webrtc', expiryMarginSeconds: 30, ...over }
}

/** A Clock reading `time` whose timers never fire: models timers that run late. */
export function lateTimers (time: FakeClock): Clock {
  return { monotonic: () => time.monotonic(), wall: () => time.wall(), setTimer: () => ({}), clearTimer: () => {} }
}

/** One call the manager made to its source. */
export interface SourceCall {
  last: UpstreamToken | undefined
  signal: AbortSignal
  /** Monotonic time of the call. */
  now: number
}

export type SourceHandler = (call: SourceCall, index: number) => UpstreamToken | Promise<UpstreamToken>

/** A TokenSource the test controls: records each call and answers it from `handler`. */
export function stubSource (clock: Clock, handler: SourceHandler): { source: TokenSource, calls: SourceCall[] } {
  const calls: SourceCall[] = []
  const source: TokenSource = {
    fetch: async (last, signal) => {
      const call = { last, signal, now: clock.monotonic() }
      calls.push(call)
      return await handler(call, calls.length - 1)
    }
  }
  return { source, calls }
}

/** A token as a source delivers it, granted at `startedAt` (monotonic ms) for `expiresIn` seconds. */
export function upstreamToken (startedAt: number, over: { accessToken?: string | Secret, expiresIn?: number, tokenId?: string } = {}): UpstreamToken {
  const expiresIn = over.expiresIn ?? 3600
  const accessToken = over.accessToken ?? 'tok-1'
  return {
    accessToken: typeof accessToken === 'string' ? new Secret(accessToken) : accessToken,
    tokenType: 'Bearer',
    tokenId: over.tokenId,
    expiresInSeconds: expiresIn,
    expiresAtMonotonic: startedAt + expiresIn * 1000
  }
}

/** A source failure of class `errorClass`, as the provider would reject with. */
export function fetchError (errorClass: UpstreamErrorClass, details: { status?: number, retryAfterMs?: number, message?: string } = {}): UpstreamFetchError {
  return new UpstreamFetchError(errorClass, details.message ?? `HTTP ${details.status ?? 0}`, details)
}

/** A source attempt that never answers on its own and rejects once its signal aborts. */
export async function hangUntilAborted (call: SourceCall): Promise<never> {
  return await new Promise((_resolve, reject) => {
    const abort = (): void => { reject(new UpstreamFetchError('network', 'request aborted')) }
    if (call.signal.aborted) abort()
    call.signal.addEventListener('abort', abort, { once: true })
  })
}

interface TeardownHost { teardown: (fn: () => void) => void }

interface ManagerHarnessOptions {
  manager?: Partial<TokenManagerOptions>
  /** Wraps the FakeClock, e.g. lateTimers. */
  clock?: (time: FakeClock) => Clock
}

function track (t: TeardownHost, opts: TokenManagerOptions) {
  const manager = new TokenManager(opts)
  const updates: UpstreamToken[] = []
  manager.on('updated', (token) => { updates.push(token) })
  t.teardown(() => { manager.close() })
  return { manager, updates }
}

/** The manager over a stubbed source: id bandwidth, 10 s margin, refresh at 0.8, jitter at its middle. */
export function harness (t: TeardownHost, handler: SourceHandler, opts: ManagerHarnessOptions = {}) {
  const time = new FakeClock()
  const clock = opts.clock?.(time) ?? time
  const { source, calls } = stubSource(clock, handler)
  const logger = captureLogger()
  const { lines } = logger
  const { manager, updates } = track(t, {
    id: 'bandwidth', source, marginSeconds: 10, refreshAt: 0.8, clock, random: () => 0.5, logger, ...opts.manager
  })
  return { manager, clock: time, calls, lines, updates }
}

/** The manager over a ProviderSource (5 s timeout) answering from the scripted fake provider. */
export function providerHarness (t: TeardownHost, handler: Handler, opts: ManagerHarnessOptions & { id?: UpstreamId, upstream?: Partial<UpstreamConfig> } = {}) {
  const time = new FakeClock()
  const clock = opts.clock?.(time) ?? time
  const config = upstreamConfig(opts.id, opts.upstream)
  const { fetch, requests } = scriptedProvider(handler)
  const provider = new ProviderSource({ upstream: () => config, timeoutMs: 5000, fetch, clock })
  const fetches: Array<{ outcome: FetchOutcome, durationMs: number }> = []
  provider.on('fetched', (outcome, durationMs) => { fetches.push({ outcome, durationMs }) })
  const logger = captureLogger()
  const { lines } = logger
  const { manager, updates } = track(t, {
    id: config.id,
    source: provider,
    marginSeconds: config.expiryMarginSeconds,
    refreshAt: 0.8,
    clock,
    random: () => 0.5,
    logger,
    credentialsHint: config.id === 'bandwidth' ? 'BANDWIDTH_CLIENT_ID and BANDWIDTH_CLIENT_SECRET' : 'GLOBAL_WEBRTC_CLIENT_ID and GLOBAL_WEBRTC_CLIENT_SECRET',
    ...opts.manager
  })
  return { manager, provider, clock: time, requests, lines, updates, fetches }
}

/** The AppError p rejects with; fails loudly on anything else. */
export async function appRejection (p: Promise<unknown>, code: AppError['code']): Promise<AppError> {
  const err = await rejection(p)
  if (!(err instanceof AppError) || err.code !== code) throw new Error(`expected an AppError ${code}, got ${String(err)}`)
  return err
}

/** The 503 UPSTREAM_UNAVAILABLE AppError p rejects with. */
export async function unavailable (p: Promise<unknown>): Promise<AppError> {
  return await appRejection(p, 'UPSTREAM_UNAVAILABLE')
}
