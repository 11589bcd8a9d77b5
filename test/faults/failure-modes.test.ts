// Fault injection: the app fetching from the upstream emulator over real HTTP on 127.0.0.1, under
// a FakeClock, driven through every failure mode a provider (or the network before it) can show.
// For each mode, in one run: a caller with no token gets the contract's answer (503 with
// Retry-After, or 502 for rejected credentials); the service recovers once the provider heals;
// a held token keeps being served through a failing refresh until its margin, then the contract
// answer again; and it recovers once more. Logs say so once per change; metrics count every try.
import t from 'tap'
import type { Tenant, UpstreamEmulator } from '../../emulator/upstream-emulator.js'
import type { UpstreamErrorClass } from '../../src/lib/errors.js'
import { API_KEY } from '../helpers/build.js'
import { settlesNow } from '../helpers/fake-clock.js'
import { CLIENTS, rig, type Rig, type Wire } from '../helpers/wire.js'
import { parsedLogs, sample } from '../helpers/output.js'

const TIMEOUT_MS = 2000
const GLOBAL: Tenant = 'global'
/** Global tokens from the emulator: 600 s, margin 30 s, so servable for 570 s, refreshed at 480 s. */
const SERVABLE_S = 570
const REFRESH_S = 480

interface Mode {
  name: string
  errorClass: UpstreamErrorClass
  /** What a caller without a servable token gets. */
  status: 502 | 503
  /** Retry-After right after the first failure (seconds); none for 502. */
  retryAfter: number | undefined
  /** Longest Retry-After a caller may see during the outage. */
  maxRetryAfter: number
  /** Longest wait, once healed, before callers are served again (backoff cap, Retry-After, timeout). */
  recoveryMs: number
  break: (emulator: UpstreamEmulator, wire: Wire) => void
  heal: (emulator: UpstreamEmulator, wire: Wire) => void
}

const fault = (f: Parameters<UpstreamEmulator['setFault']>[1]) => (emulator: UpstreamEmulator) => { emulator.setFault(GLOBAL, f) }
const clear = fault(null)
const answer = (body: unknown) => fault({ kind: 'json', body })
const ordinary = { status: 503 as const, retryAfter: 1, maxRetryAfter: 10, recoveryMs: 10_000, heal: clear }

const MODES: Mode[] = [
  {
    ...ordinary,
    name: 'connection refused',
    errorClass: 'network',
    break: (_e, wire) => { wire.refuse = true },
    heal: (_e, wire) => { wire.refuse = false }
  },
  { ...ordinary, name: `a hang past UPSTREAM_TIMEOUT_MS (${TIMEOUT_MS} ms)`, errorClass: 'timeout', recoveryMs: 10_000 + TIMEOUT_MS, break: fault({ kind: 'hang' }) },
  { ...ordinary, name: 'HTTP 500', errorClass: 'server_error', break: fault({ kind: 'status', status: 500 }) },
  { ...ordinary, name: 'HTTP 503 with Retry-After: 7', errorClass: 'server_error', retryAfter: 7, break: fault({ kind: 'status', status: 503, retryAfter: '7' }) },
  {
    ...ordinary,
    name: 'HTTP 429 with Retry-After: 30',
    errorClass: 'throttled',
    retryAfter: 30,
    maxRetryAfter: 30,
    recoveryMs: 30_000,
    break: fault({ kind: 'status', status: 429, retryAfter: '30' })
  },
  { ...ordinary, name: 'an HTML page with 200', errorClass: 'bad_response', break: fault({ kind: 'html' }) },
  { ...ordinary, name: 'a garbage body', errorClass: 'bad_response', break: fault({ kind: 'garbage' }) },
  { ...ordinary, name: 'JSON without access_token', errorClass: 'bad_response', break: answer({ token_type: 'Bearer', expires_in: 600 }) },
  { ...ordinary, name: 'expires_in 0', errorClass: 'bad_response', break: answer({ access_token: 'zero-lifetime-token', token_type: 'Bearer', expires_in: 0 }) },
  { ...ordinary, name: 'expires_in -60', errorClass: 'bad_response', break: answer({ access_token: 'negative-lifetime-token', token_type: 'Bearer', expires_in: -60 }) },
  { ...ordinary, name: 'expires_in 1e9 (absurd)', errorClass: 'bad_response', break: answer({ access_token: 'absurd-lifetime-token', token_type: 'Bearer', expires_in: 1e9 }) },
  {
    name: 'invalid_client (the service\'s own credentials rotated away)',
    errorClass: 'credentials_rejected',
    status: 502,
    retryAfter: undefined,
    maxRetryAfter: 0,
    recoveryMs: 60_000,
    break: (emulator) => { emulator.setCredentials(GLOBAL, CLIENTS.global.clientId, 'rotated-elsewhere-0123456789') },
    heal: (emulator) => { emulator.setCredentials(GLOBAL, CLIENTS.global.clientId, CLIENTS.global.clientSecret) }
  }
]

const call = async (r: Rig) => await r.app.inject({ url: '/token/webrtc', headers: { 'x-api-key': API_KEY } })

/**
 * The route's answer, given while the fake clock stands still: once no provider request is in
 * flight (bar one the emulator holds), the call has settled. A caller left waiting, on a held
 * request or on a timer, fails the test.
 */
async function callNow (r: Rig): Promise<Awaited<ReturnType<typeof call>>> {
  const pending = call(r)
  await r.wire.quiet()
  if (!await settlesNow(pending)) throw new Error('the caller waited on the provider or on the clock')
  return await pending
}

/** Advances one second at a time until a caller is served; returns the ms that took. */
async function untilServed (r: Rig, boundMs: number): Promise<{ waitedMs: number, token: string }> {
  for (let waited = 0; waited <= boundMs + 1000; waited += 1000) {
    const res = await callNow(r)
    if (res.statusCode === 200) return { waitedMs: waited, token: res.json<{ access_token: string }>().access_token }
    await r.wire.advance(1000)
  }
  throw new Error(`not served within ${boundMs} ms of healing`)
}

for (const mode of MODES) {
  t.test(`provider fault: ${mode.name}`, async (t) => {
    const r = await rig(t, { env: { UPSTREAM_TIMEOUT_MS: String(TIMEOUT_MS) }, beforeReady: mode.break })
    const { wire, emulator } = r
    let failedCalls = 0

    const expectRefusal = (res: Awaited<ReturnType<typeof call>>, label: string, maxRetryAfter = mode.maxRetryAfter): void => {
      failedCalls++
      t.equal(res.statusCode, mode.status, `${label}: status`)
      const body = res.json<{ code: string, message: string }>()
      t.equal(body.code, mode.status === 502 ? 'UPSTREAM_CREDENTIALS_REJECTED' : 'UPSTREAM_UNAVAILABLE', `${label}: code`)
      t.notMatch(res.body, /access_token|token-|<html|Bearer/i, `${label}: no token or provider body`)
      if (mode.status === 503) {
        const retryAfter = Number(res.headers['retry-after'])
        t.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= maxRetryAfter, `${label}: Retry-After ${String(res.headers['retry-after'])}`)
      }
    }

    // 1. No token yet and the provider broken from the start (the prewarm already failed or hangs).
    if (mode.errorClass === 'timeout') {
      const pending = call(r)
      await wire.advance(TIMEOUT_MS)
      const res = await pending
      expectRefusal(res, 'cold, after the timeout')
      t.equal(res.headers['retry-after'], '1')
    } else {
      const res = await callNow(r)
      expectRefusal(res, 'cold')
      if (mode.retryAfter !== undefined) t.equal(res.headers['retry-after'], String(mode.retryAfter), 'Retry-After of the first failure')
    }
    const ready = await r.app.inject({ url: '/readyz' })
    t.match(ready.json(), { upstreams: { global: { state: 'failing', secondsLeft: 0, lastError: mode.errorClass } } })
    t.equal(emulator.issuedTokens(GLOBAL).length, 0, 'nothing was served, nothing issued')

    // 2. The provider heals: served again within the recovery bound.
    mode.heal(emulator, wire)
    const first = await untilServed(r, mode.recoveryMs)
    t.ok(first.waitedMs <= mode.recoveryMs, `served ${first.waitedMs} ms after healing`)
    t.ok(emulator.issuedTokens(GLOBAL).some((tok) => tok.accessToken === first.token), 'a token the emulator issued')
    // The last request sent is the one that succeeded: its start is when the token's life began.
    const fetchedAt = wire.sentAt.global.at(-1) as number

    // 3. Broken again while a token is held: the failing refresh goes unnoticed by callers until the margin.
    mode.break(emulator, wire)
    const sinceFetch = (): number => wire.elapsed() - fetchedAt
    await wire.advance(REFRESH_S * 1000 - sinceFetch() + 500)
    t.ok(wire.sentAt.global.some((at) => at > fetchedAt), 'the refresh was attempted')
    for (const at of [REFRESH_S + 0.5, 500, 540, SERVABLE_S - 1.5]) {
      await wire.advance(at * 1000 - sinceFetch())
      const res = await callNow(r)
      t.equal(res.statusCode, 200, `held token served at ${at} s`)
      const body = res.json<{ access_token: string, expires_in: number }>()
      t.equal(body.access_token, first.token, `the same token at ${at} s`)
      t.equal(body.expires_in, Math.floor(SERVABLE_S - at), `expires_in counts down at ${at} s`)
    }
    await wire.advance((SERVABLE_S - 0.5) * 1000 - sinceFetch())
    expectRefusal(await callNow(r), 'past the margin')

    // 4. Healed again: a fresh token within the bound.
    mode.heal(emulator, wire)
    const second = await untilServed(r, mode.recoveryMs)
    t.ok(second.waitedMs <= mode.recoveryMs, `served ${second.waitedMs} ms after healing again`)
    t.not(second.token, first.token, 'a new token')

    // The fault really reached the wire: the emulator played it, or (refused) never saw the request.
    const seen = emulator.requestLog().filter((e) => e.tenant === GLOBAL)
    const faulty = mode.name === 'connection refused'
      ? wire.sentAt.global.length - seen.length
      : seen.filter((e) => e.fault !== undefined || e.error === 'invalid_client').length
    t.ok(faulty >= 2, `${faulty} requests met the fault`)
    t.comment(`provider requests at ${wire.sentAt.global.map((ms) => ms / 1000).join(', ')} s; healed after ${first.waitedMs} and ${second.waitedMs} ms`)

    // Logs: each outage reported once (at warn, or error for rejected credentials), each recovery once.
    const lines = parsedLogs(r.logs).filter((l) => l.upstream === 'global')
    const outageLevel = mode.errorClass === 'credentials_rejected' ? 50 : 40
    const outages = lines.filter((l) => l.level === outageLevel && l.errorClass !== undefined)
    t.equal(outages.length, 2, 'one line per outage')
    t.ok(outages.every((l) => l.errorClass === mode.errorClass || (mode.errorClass === 'timeout' && l.errorClass === 'network')))
    t.equal(lines.filter((l) => l.msg === 'upstream token fetch recovered' && l.level === 30).length, 2, 'one line per recovery')

    // Metrics: every provider request counted once, by outcome; every refused caller counted.
    const scrape = (await r.app.inject({ url: '/metrics' })).body
    const fetches = ['success', 'timeout', 'network', 'throttled', 'server_error', 'bad_response', 'client_error', 'credentials_rejected']
      .map((o) => sample(scrape, `upstream_fetches_total{upstream="global",outcome="${o}"}`) ?? 0)
    t.equal(fetches.reduce((a, b) => a + b, 0), wire.sentAt.global.length, 'upstream_fetches_total sums to the requests sent')
    t.equal(sample(scrape, 'upstream_fetches_total{upstream="global",outcome="success"}'), emulator.issuedTokens(GLOBAL).length)
    t.ok((sample(scrape, `upstream_fetches_total{upstream="global",outcome="${mode.errorClass}"}`) ?? 0) >= 2)
    const refusedOutcome = mode.status === 502 ? 'credentials_rejected' : 'unavailable'
    t.equal(sample(scrape, `token_requests_total{upstream="global",outcome="${refusedOutcome}"}`), failedCalls + Math.floor((first.waitedMs + second.waitedMs) / 1000))
    const left = sample(scrape, 'upstream_token_expiry_seconds{upstream="global"}') ?? -1
    t.ok(left >= SERVABLE_S - 1 && left <= SERVABLE_S, `upstream_token_expiry_seconds ${left}`)
  })
}
