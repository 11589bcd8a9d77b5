// The fault suite's wiring: the app under a FakeClock, fetching from the upstream emulator over
// real HTTP on 127.0.0.1. Real sockets finish on their own schedule while the fake clock only
// moves when told, so the `fetch` given to the token managers is tracked: `quiet()` waits (in
// real time, bounded) until every provider request has either settled or is parked on purpose by
// the emulator's `hang` fault, and `advance(ms)` moves the clock timer by timer, waiting for
// quiet after each one. Bodies are read inside the tracked call, so a settled request has no
// network left to do. `refuse` sends requests to a port nothing listens on (connection refused).
import type { Test } from 'tap'
import type { Tenant, UpstreamEmulator } from '../../emulator/upstream-emulator.js'
import { startEmulator } from './emulator.js'
import { build, BANDWIDTH_SECRET, GLOBAL_SECRET, type Built } from './build.js'
import { FakeClock, settle } from './fake-clock.js'
import { closedPort } from './net.js'

/** Real-time bound on waiting for loopback HTTP; only a broken test or machine reaches it. */
const QUIET_DEADLINE_MS = 20_000

export interface Wire {
  fetch: typeof globalThis.fetch
  /** While true, requests go to a closed port on 127.0.0.1. */
  refuse: boolean
  /** Fake-clock offsets (ms from `start`) at which each request to a tenant was sent. */
  sentAt: Record<Tenant, number[]>
  /** Resolves once no provider request is in flight, except ones the emulator holds (hang). */
  quiet: () => Promise<void>
  /** Moves the fake clock by ms, firing timers in order and waiting for quiet after each. */
  advance: (ms: number) => Promise<void>
  /** Fake-clock ms elapsed since the wire was created. */
  elapsed: () => number
}

interface InFlight { tenant: Tenant, ordinal: number | undefined, done: Promise<unknown> }

export function createWire (emulator: UpstreamEmulator, clock: FakeClock, refusedPort: number): Wire {
  const start = clock.monotonic()
  const inflight = new Set<InFlight>()
  /** Requests that reached the emulator, per tenant, in the order sent. */
  const delivered: Record<Tenant, number> = { bandwidth: 0, global: 0 }
  const sentAt: Record<Tenant, number[]> = { bandwidth: [], global: [] }

  const tenantOf = (url: URL): Tenant => url.pathname.startsWith('/bandwidth/') ? 'bandwidth' : 'global'

  /** Held by the emulator: it logged this request and answered it with `hang`. */
  const parked = (r: InFlight): boolean => {
    if (r.ordinal === undefined) return false
    const entries = emulator.requestLog().filter((e) => e.tenant === r.tenant)
    return entries[r.ordinal - 1]?.outcome === 'hang'
  }

  const wire: Wire = {
    refuse: false,
    sentAt,
    fetch: (async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
      const url = new URL(input instanceof Request ? input.url : String(input))
      const tenant = tenantOf(url)
      sentAt[tenant].push(clock.monotonic() - start)
      if (wire.refuse) url.port = String(refusedPort)
      const ordinal = wire.refuse ? undefined : ++delivered[tenant]
      const call = (async () => {
        const res = await fetch(url, init)
        const body = await res.arrayBuffer()
        return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers })
      })()
      const entry: InFlight = { tenant, ordinal, done: call.catch(() => {}) }
      inflight.add(entry)
      try {
        return await call
      } finally {
        inflight.delete(entry)
      }
    }) as typeof globalThis.fetch,
    async quiet () {
      const deadline = Date.now() + QUIET_DEADLINE_MS
      for (;;) {
        await settle()
        const busy = [...inflight].filter((r) => !parked(r))
        if (busy.length === 0) return
        if (Date.now() > deadline) throw new Error(`${busy.length} provider request(s) did not settle`)
        await Promise.race([Promise.all(busy.map(async (r) => await r.done)), new Promise((resolve) => setTimeout(resolve, 5))])
      }
    },
    async advance (ms: number) {
      let left = ms
      await wire.quiet()
      for (let next = clock.nextTimerIn(); next !== undefined && next <= left; next = clock.nextTimerIn()) {
        clock.advance(next) // fires the due timer(s) and nothing later
        left -= next
        await wire.quiet()
      }
      clock.advance(left)
      await wire.quiet()
    },
    elapsed: () => clock.monotonic() - start
  }
  return wire
}

export const CLIENTS = {
  bandwidth: { clientId: 'bw-client', clientSecret: BANDWIDTH_SECRET },
  global: { clientId: 'gl-client', clientSecret: GLOBAL_SECRET }
} as const

export interface Rig extends Built {
  emulator: UpstreamEmulator
  clock: FakeClock
  wire: Wire
}

/**
 * An emulator with the helper's client credentials, and the app (test/helpers/build.ts) pointed
 * at it through the wire, with a FakeClock and backoff jitter fixed at 0.5. `beforeReady` runs
 * before the app starts (its prewarm is the first provider request), e.g. to program a fault.
 */
export async function rig (t: Test, opts: { env?: Record<string, string>, beforeReady?: (emulator: UpstreamEmulator, wire: Wire) => void } = {}): Promise<Rig> {
  const emulator = await startEmulator(t, { tenants: CLIENTS, logLimit: 100_000 })
  const clock = new FakeClock()
  const wire = createWire(emulator, clock, await closedPort())
  opts.beforeReady?.(emulator, wire)
  const built = await build(t, {
    env: {
      LOG_LEVEL: 'debug',
      BANDWIDTH_TOKEN_URL: emulator.tokenUrl('bandwidth'),
      GLOBAL_WEBRTC_TOKEN_URL: emulator.tokenUrl('global'),
      RATE_LIMIT_MAX: '1000000',
      ...opts.env
    },
    tokens: { clock, fetch: wire.fetch, random: () => 0.5 },
    reload: { clock }
  })
  await wire.quiet()
  return { ...built, emulator, clock, wire }
}
