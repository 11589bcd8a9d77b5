// Builds a TokenManager wired to a FakeClock, a fake provider, a capturing logger and
// recording hooks, so manager tests read as scenarios. Closed automatically at test end.
import type { UpstreamConfig, UpstreamId } from '../../src/config/types.js'
import { Secret } from '../../src/lib/secret.js'
import { TokenManager, type TokenManagerOptions } from '../../src/token/token-manager.js'
import type { Clock, FetchOutcome, Logger, UpstreamToken } from '../../src/token/types.js'
import { FakeClock } from '../helpers/fake-clock.js'
import { fakeFetch, type Handler } from './fake-fetch.js'

export const CLIENT_SECRET = 'client-secret-VALUE-0123456789'

export interface LogLine { level: keyof Logger, obj: Record<string, unknown>, msg: string | undefined }

export function captureLogger (): { logger: Logger, lines: LogLine[] } {
  const lines: LogLine[] = []
  const at = (level: keyof Logger) => (obj: object, msg?: string): void => { lines.push({ level, obj: obj as Record<string, unknown>, msg }) }
  return { logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, lines }
}

export function upstreamConfig (id: UpstreamId = 'bandwidth', over: Partial<UpstreamConfig> = {}): UpstreamConfig {
  return id === 'bandwidth'
    ? { id, tokenUrl: new URL('https://id.bandwidth.com/api/v1/oauth2/token'), clientId: 'bw-client', clientSecret: new Secret(CLIENT_SECRET), scope: undefined, expiryMarginSeconds: 10, ...over }
    : { id, tokenUrl: new URL('https://id.voxbone.com/api/v1/oauth2/token'), clientId: 'gl-client', clientSecret: new Secret(CLIENT_SECRET), scope: 'voice.webrtc', expiryMarginSeconds: 30, ...over }
}

/** A Clock reading `time` whose timers never fire: models timers that run late. */
export function lateTimers (time: FakeClock): Clock {
  return { monotonic: () => time.monotonic(), wall: () => time.wall(), setTimer: () => ({}), clearTimer: () => {} }
}

interface TeardownHost { teardown: (fn: () => void) => void }

export function harness (t: TeardownHost, handler: Handler, opts: { id?: UpstreamId, upstream?: Partial<UpstreamConfig>, manager?: Partial<TokenManagerOptions>, clock?: (time: FakeClock) => Clock } = {}) {
  const time = new FakeClock()
  const { fetch, requests } = fakeFetch(handler)
  const { logger, lines } = captureLogger()
  const fetches: Array<{ outcome: FetchOutcome, durationMs: number }> = []
  const updates: UpstreamToken[] = []
  const manager = new TokenManager({
    upstream: upstreamConfig(opts.id, opts.upstream),
    refreshAt: 0.8,
    timeoutMs: 5000,
    clock: opts.clock?.(time) ?? time,
    fetch,
    random: () => 0.5,
    logger,
    onFetch: (outcome, durationMs) => { fetches.push({ outcome, durationMs }) },
    onTokenUpdate: (token) => { updates.push(token) },
    ...opts.manager
  })
  t.teardown(() => manager.close())
  return { manager, clock: time, requests, lines, fetches, updates }
}

/** The rejection reason of p (fails loudly if p resolves). */
export async function rejection (p: Promise<unknown>): Promise<unknown> {
  try {
    await p
  } catch (err) {
    return err
  }
  throw new Error('expected a rejection')
}

/** Resolves true if p settles within a few event-loop turns, without advancing the clock. */
export async function settlesNow (p: Promise<unknown>): Promise<boolean> {
  let done = false
  p.then(() => { done = true }, () => { done = true })
  for (let i = 0; i < 10; i++) await new Promise<void>((resolve) => setImmediate(resolve))
  return done
}
