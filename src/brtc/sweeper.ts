// The sweep: every BRTC_SWEEP_INTERVAL_SECONDS, delete this service's expired endpoints. The
// provider does not say that an expired endpoint disappears on its own, and the list cannot
// filter by tag, so the sweep pages through the account's endpoints (following the `next` link's
// `afterCursor`), collects those whose tag starts with `wts1.` and whose `expirationTimestamp`
// has passed, then deletes them one at a time. An endpoint without that prefix is never touched,
// whatever its expiry: it belongs to something else on the account.
//
// - Never two at once: a sweep that is still running when the timer fires is not doubled (the
//   next one is scheduled only once it ends), and across replicas a lock (the Redis lock, see
//   sweep-lock.ts) lets one replica sweep per interval. Without the lock (no Redis, or Redis
//   down) the replica sweeps on its own: two replicas may then sweep the same interval, which
//   costs duplicate requests (a second delete gets 404, counted as gone), never a wrong deletion.
// - One interval at most: the lock lives one interval, so a sweep still running then is aborted
//   (its request in flight too) before another replica can take the lock and sweep beside it; the
//   next sweep goes on from a fresh listing.
// - Throttling: a provider 429 pauses the sweep for its Retry-After (at most 60 s) and resumes,
//   up to MAX_THROTTLE_WAITS times per sweep and never past the sweep's interval; then the sweep
//   stops and the next one waits at least the last Retry-After. Any other failure ends the sweep;
//   the next interval tries again.
// - Time comes from the injected clock (timers and "now"), so tests drive it.
import { systemClock, type Clock, type TimerHandle } from '../lib/clock.js'
import { AppError, logSafeCode } from '../lib/errors.js'
import { silentLogger, type Logger } from '../lib/logger.js'
import { BrtcApiError, DEFAULT_THROTTLE_MS, eachPage, type BrtcApiClient, type EndpointPage } from './api-client.js'
import { isServiceTag } from './owner-tag.js'

export const SWEEP_OUTCOMES = ['success', 'locked', 'throttled', 'failed'] as const
export type SweepOutcome = typeof SWEEP_OUTCOMES[number]

/** Pauses for a 429's Retry-After per sweep before giving up until the next one. */
export const MAX_THROTTLE_WAITS = 5
/** Pages read per sweep at most (a million endpoints at 1000 a page): a cursor that loops cannot trap it. */
export const MAX_PAGES = 1000

/** The cross-replica lock, when there is one. */
export interface SweepLock {
  /** 'acquired': sweep; 'held': another replica swept or sweeps this interval; 'unavailable': no lock to be had (Redis down): sweep alone. */
  acquire (): Promise<'acquired' | 'held' | 'unavailable'>
  /** Lets another replica sweep (called when a sweep is cut short by shutdown). */
  release (): Promise<void>
}

export interface SweepResult {
  outcome: SweepOutcome
  pages: number
  /** Expired endpoints of this service found. */
  expired: number
  deleted: number
  /** Expired ones the provider no longer knew (404) when deleted. */
  gone: number
  /** How long the provider asked the sweep to wait, when it stopped throttled. */
  retryAfterMs?: number
}

export interface SweeperOptions {
  api: Pick<BrtcApiClient, 'listPage' | 'delete'>
  intervalMs: number
  clock?: Clock
  lock?: SweepLock
  logger?: Logger
  /** Every sweep's result (metrics). */
  onSweep?: (result: SweepResult) => void
  maxThrottleWaits?: number
  maxPages?: number
}

/** Thrown inside a sweep when stop() aborts it. */
class Stopped extends Error {}

/** The abort reason of a sweep that ran out of its interval. */
const OUT_OF_TIME = Symbol('out of time')

/** One sweep's signal, its pauses so far, and when (monotonic ms) its interval ends. */
interface Run { signal: AbortSignal, waits: number, endsAt: number }

export class Sweeper {
  readonly #api: SweeperOptions['api']
  readonly #intervalMs: number
  readonly #clock: Clock
  readonly #lock: SweepLock | undefined
  readonly #log: Logger
  readonly #onSweep: (result: SweepResult) => void
  readonly #maxThrottleWaits: number
  readonly #maxPages: number
  #timer: TimerHandle | undefined
  #running: Promise<SweepResult> | undefined
  #controller: AbortController | undefined
  #started = false
  #stopped = false

  constructor (opts: SweeperOptions) {
    if (!(opts.intervalMs > 0)) throw new RangeError('intervalMs must be positive')
    this.#api = opts.api
    this.#intervalMs = opts.intervalMs
    this.#clock = opts.clock ?? systemClock
    this.#lock = opts.lock
    this.#log = opts.logger ?? silentLogger
    this.#onSweep = opts.onSweep ?? (() => {})
    this.#maxThrottleWaits = opts.maxThrottleWaits ?? MAX_THROTTLE_WAITS
    this.#maxPages = opts.maxPages ?? MAX_PAGES
  }

  /** Sweeps every interval from now on (the first one interval from now). */
  start (): void {
    if (this.#started || this.#stopped) return
    this.#started = true
    this.#schedule(this.#intervalMs)
  }

  /** Stops the timer and cuts a sweep in flight short (its requests are aborted); resolves once it ended. */
  async stop (): Promise<void> {
    this.#stopped = true
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer)
    this.#timer = undefined
    this.#controller?.abort()
    await this.#running
  }

  /** One sweep now, or the one already running. */
  async runOnce (): Promise<SweepResult> {
    this.#running ??= this.#sweep().finally(() => { this.#running = undefined })
    return await this.#running
  }

  #schedule (ms: number): void {
    if (this.#stopped) return
    this.#timer = this.#clock.setTimer(() => {
      this.#timer = undefined
      this.runOnce().then((result) => {
        this.#schedule(Math.max(this.#intervalMs, result.retryAfterMs ?? 0))
      }, /* c8 ignore next -- #sweep never rejects: every failure is a result */ () => { this.#schedule(this.#intervalMs) })
    }, ms)
  }

  async #sweep (): Promise<SweepResult> {
    const result: SweepResult = { outcome: 'success', pages: 0, expired: 0, deleted: 0, gone: 0 }
    if (this.#stopped) return result
    const controller = new AbortController()
    this.#controller = controller
    const started = this.#clock.monotonic()
    // Started before the lock is taken, so the sweep ends before the lock it takes expires.
    const deadline = this.#clock.setTimer(() => { controller.abort(OUT_OF_TIME) }, this.#intervalMs)
    const run: Run = { signal: controller.signal, waits: 0, endsAt: started + this.#intervalMs }
    let locked = false
    try {
      const lock = this.#lock === undefined ? 'unavailable' : await this.#lock.acquire()
      locked = lock === 'acquired'
      // Held: another replica sweeps this interval.
      const expired = lock === 'held' ? [] : await this.#collect(result, run)
      if (lock === 'held') result.outcome = 'locked'
      for (const endpointId of expired) {
        const outcome = await this.#withThrottle(run, async () => await this.#api.delete(endpointId, run.signal))
        if (outcome === 'deleted') result.deleted++
        else result.gone++
        this.#log.debug({ endpointId, outcome }, 'brtc sweep: expired endpoint deleted')
      }
    } catch (err) {
      if (controller.signal.reason === OUT_OF_TIME) {
        result.outcome = 'failed'
        this.#log.warn({ pages: result.pages, deleted: result.deleted }, 'brtc sweep ran out of its interval; the next sweep goes on')
      } else if (err instanceof Stopped || controller.signal.aborted) {
        result.outcome = 'failed'
        // Shutting down mid-sweep: another replica may take over at its next tick.
        if (locked) await this.#lock?.release().catch(() => {})
      } else {
        this.#failed(result, err)
      }
    } finally {
      this.#clock.clearTimer(deadline)
      this.#controller = undefined
    }
    this.#report(result, this.#clock.monotonic() - started)
    return result
  }

  /** Every page's expired endpoints of this service (collected first, so deleting cannot disturb the paging). */
  async #collect (result: SweepResult, run: Run): Promise<string[]> {
    const now = this.#clock.wall()
    const expired: string[] = []
    const read = async (after: string | undefined): Promise<EndpointPage> => await this.#withThrottle(run, async () => await this.#api.listPage(after, run.signal))
    const complete = await eachPage(read, this.#maxPages, (page) => {
      result.pages++
      for (const endpoint of page.endpoints) {
        if (isServiceTag(endpoint.tag) && endpoint.expiresAtMs <= now) expired.push(endpoint.endpointId)
      }
    })
    if (!complete) this.#log.warn({ pages: result.pages }, 'brtc sweep: the endpoint list does not end; sweeping what was read')
    result.expired = expired.length
    return expired
  }

  /** Runs a call, pausing for a 429's Retry-After and trying again, within the sweep's budget of pauses and time. */
  async #withThrottle<T> (run: Run, call: () => Promise<T>): Promise<T> {
    for (;;) {
      try {
        return await call()
      } catch (err) {
        if (!(err instanceof BrtcApiError) || err.errorClass !== 'throttled' || run.waits >= this.#maxThrottleWaits) throw err
        const pauseMs = err.retryAfterMs ?? DEFAULT_THROTTLE_MS
        if (this.#clock.monotonic() + pauseMs >= run.endsAt) throw err
        run.waits++
        await this.#sleep(pauseMs, run.signal)
      }
    }
  }

  async #sleep (ms: number, signal: AbortSignal): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      if (signal.aborted) {
        reject(new Stopped())
        return
      }
      const onAbort = (): void => {
        this.#clock.clearTimer(timer)
        reject(new Stopped())
      }
      const timer = this.#clock.setTimer(() => {
        signal.removeEventListener('abort', onAbort)
        resolve()
      }, ms)
      signal.addEventListener('abort', onAbort, { once: true })
    })
  }

  #failed (result: SweepResult, err: unknown): void {
    const errorClass = err instanceof BrtcApiError || err instanceof AppError ? err.errorClass ?? 'unknown' : logSafeCode(err)
    if (err instanceof BrtcApiError && err.errorClass === 'throttled') {
      result.outcome = 'throttled'
      result.retryAfterMs = err.retryAfterMs ?? DEFAULT_THROTTLE_MS
    } else {
      result.outcome = 'failed'
    }
    const hint = errorClass === 'credentials_rejected'
      ? ': the Endpoints API refused the bandwidth credentials; they need the BRTC role on BRTC_ACCOUNT_ID'
      : '; the next sweep tries again'
    this.#log.warn({ errorClass, pages: result.pages, deleted: result.deleted }, `brtc sweep ${result.outcome}${hint}`)
  }

  #report (result: SweepResult, durationMs: number): void {
    const fields = { outcome: result.outcome, pages: result.pages, expired: result.expired, deleted: result.deleted, gone: result.gone, durationMs: Math.round(durationMs) }
    if (result.deleted > 0) this.#log.info(fields, 'brtc sweep: expired endpoints deleted')
    else this.#log.debug(fields, 'brtc sweep done')
    try {
      this.#onSweep(result)
    } catch {
      // A throwing listener (metrics) must not stop the sweeps.
    }
  }
}
