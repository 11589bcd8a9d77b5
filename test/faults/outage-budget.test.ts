// What a provider outage costs the provider: with the FakeClock and backoff jitter fixed at 0.5,
// a 60 s outage (the app fetching from the emulator over HTTP, callers arriving all the time)
// must cause exactly the requests of the backoff schedule (1 s doubling, capped at 10 s, or
// Retry-After when longer), however many callers there are; callers are told when to come back,
// the outage is logged once, and service resumes within one backoff step of the provider healing.
import t from 'tap'
import { API_KEY } from '../helpers/build.js'
import { parsedLogs, sample } from '../helpers/output.js'
import { rig } from '../helpers/wire.js'

const CALLER_EVERY_MS = 250
const OUTAGE_MS = 60_000

for (const { name, fault, schedule } of [
  { name: 'HTTP 503', fault: { kind: 'status', status: 503 } as const, schedule: [0, 1, 3, 7, 15, 25, 35, 45, 55] },
  { name: 'HTTP 503 with Retry-After: 20', fault: { kind: 'status', status: 503, retryAfter: '20' } as const, schedule: [0, 20, 40] }
]) {
  t.test(`a 60 s outage (${name}) with a caller every ${CALLER_EVERY_MS} ms follows the backoff schedule`, async (t) => {
    const r = await rig(t, { beforeReady: (emulator) => { emulator.setFault('global', fault) } })
    const retryAfters = new Set<string>()
    let refused = 0
    for (let at = 0; at < OUTAGE_MS; at += CALLER_EVERY_MS) {
      const res = await r.app.inject({ url: '/token/webrtc', headers: { 'x-api-key': API_KEY } })
      t.equal(res.statusCode, 503)
      retryAfters.add(String(res.headers['retry-after']))
      refused++
      // The outage spans [0, 60 s): the clock stops 1 ms short of a retry due at 60 s.
      await r.wire.advance(Math.min(CALLER_EVERY_MS, OUTAGE_MS - 1 - at))
    }
    t.same(r.wire.sentAt.global, schedule.map((s) => s * 1000), `provider requests at ${schedule.join(', ')} s`)
    t.equal(r.emulator.requests('global'), schedule.length, 'the emulator saw exactly those')
    const max = Number(fault.retryAfter ?? 10)
    t.ok([...retryAfters].every((v) => Number(v) >= 1 && Number(v) <= max), `Retry-After values ${[...retryAfters].join(',')}`)

    const warns = parsedLogs(r.logs).filter((l) => l.level === 40 && l.upstream === 'global')
    t.equal(warns.length, 1, 'the outage is logged at warn once')
    t.match(warns[0], { errorClass: 'server_error', status: 503, servingHeldToken: false })

    // Heal: the next scheduled retry succeeds, and one request serves every caller after it.
    r.emulator.setFault('global', null)
    const before = r.wire.sentAt.global.length
    let waited = 0
    for (;; waited += 1000) {
      const res = await r.app.inject({ url: '/token/webrtc', headers: { 'x-api-key': API_KEY } })
      if (res.statusCode === 200) break
      refused++
      t.ok(waited < max * 1000, `still refused ${waited} ms after healing`)
      await r.wire.advance(1000)
    }
    for (let i = 0; i < 20; i++) {
      t.equal((await r.app.inject({ url: '/token/webrtc', headers: { 'x-api-key': API_KEY } })).statusCode, 200)
    }
    t.equal(r.wire.sentAt.global.length, before + 1, 'one request after healing')

    const scrape = (await r.app.inject({ url: '/metrics' })).body
    t.equal(sample(scrape, 'upstream_fetches_total{upstream="global",outcome="server_error"}'), schedule.length)
    t.equal(sample(scrape, 'upstream_fetches_total{upstream="global",outcome="success"}'), 1)
    t.equal(sample(scrape, 'token_requests_total{upstream="global",outcome="unavailable"}'), refused)
    t.equal(sample(scrape, 'token_requests_total{upstream="global",outcome="served"}'), 21)
  })
}
