// The Redis connection shared by the rate limiter, the token cache and the BRTC cap and sweep
// lock, and its up/down state.
// Redis is an optimisation here, never a dependency: while it is down every user falls back to
// this replica's own cache and counters, so the client is tuned to fail fast rather than queue
// (no offline queue, no per-command retries, short timeouts) and to reconnect on its own forever.
// Each state change is logged once; reconnect attempts while down are silent.
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { logSafeCode } from '../lib/errors.js'
import type { Logger } from '../lib/logger.js'
import type { Secret } from '../lib/secret.js'

export type RedisStatus = 'up' | 'down'

/** What the connection's users (token source, rate-limit store, BRTC cap and lock) need of it. */
export interface RedisLink {
  readonly client: Redis
  isUp (): boolean
}

export interface RedisTimings {
  /** TCP connect timeout per attempt. */
  connectTimeoutMs: number
  /** A command without a reply by then fails (its caller falls back locally). */
  commandTimeoutMs: number
  /** A connection that sends nothing back for this long while commands wait is dropped (a hung Redis). */
  socketTimeoutMs: number
  /** Cap on the delay between reconnect attempts. */
  maxReconnectDelayMs: number
  /** How long startup waits for the first connection attempt to settle. */
  startupWaitMs: number
}

/** Longest wait for the socket to close after QUIT on shutdown. */
const CLOSE_WAIT_MS = 1000

export const DEFAULT_TIMINGS: RedisTimings = {
  connectTimeoutMs: 2000,
  commandTimeoutMs: 1000,
  socketTimeoutMs: 3000,
  maxReconnectDelayMs: 2000,
  startupWaitMs: 2500
}

export class RedisConnection implements RedisLink {
  #client: Redis
  readonly #timings: RedisTimings
  readonly #log: Logger
  /** 'starting' until the first attempt settles, so the first outcome is always logged. */
  #state: 'starting' | RedisStatus = 'starting'
  #lastErrorClass: string | undefined
  #closing = false
  readonly #settle: () => void
  readonly #settled: Promise<void>
  readonly #startupCap: NodeJS.Timeout

  constructor (url: Secret, opts: { logger: Logger, timings?: Partial<RedisTimings> }) {
    const timings = { ...DEFAULT_TIMINGS, ...opts.timings }
    this.#timings = timings
    this.#log = opts.logger
    let settle: (() => void) | undefined
    this.#settled = new Promise((resolve) => { settle = resolve })
    // The executor above ran synchronously, so settle is set.
    this.#settle = settle as () => void
    this.#client = this.#connect(url)
    // A server that accepts connections but never answers: stop waiting, and say so once.
    this.#startupCap = setTimeout(() => {
      this.#lastErrorClass ??= 'timeout'
      this.#enter('down')
    }, timings.startupWaitMs)
    this.#startupCap.unref()
  }

  /** The client of the current connection; a REDIS_URL reload replaces it. */
  get client (): Redis {
    return this.#client
  }

  #connect (url: Secret): Redis {
    const timings = this.#timings
    // reveal(): the URL may carry a password; it goes to the client and nowhere else.
    const client = new Redis(url.reveal(), {
      connectTimeout: timings.connectTimeoutMs,
      commandTimeout: timings.commandTimeoutMs,
      // Drops a connection to a Redis that stopped answering, so users fall back locally at once
      // instead of each waiting out a command timeout. The timer belongs to its own socket (a
      // reason for ioredis ≥ 6), so a dead connection's timer never drops the next, healthy one.
      socketTimeout: timings.socketTimeoutMs,
      // RESP2, as the Lua scripts' replies are read (RESP3 turns a Lua `true` into a boolean), and
      // no HELLO command, which a Redis ACL for this service need not allow.
      protocol: 2,
      // Fail commands at once while disconnected instead of queueing them for later.
      enableOfflineQueue: false,
      // 0: commands in flight when the connection drops fail immediately, not after reconnecting.
      maxRetriesPerRequest: 0,
      retryStrategy: (times) => Math.min(times * 200, timings.maxReconnectDelayMs)
    })
    client.on('ready', () => { this.#enter('up') })
    client.on('close', () => { this.#enter('down') })
    client.on('error', (err) => { this.#lastErrorClass = logSafeCode(err) })
    return client
  }

  /**
   * Connects to a new URL (REDIS_URL_FILE changed: a new password, another server) and drops the
   * old connection. Users read `client` per command, so they move over; meanwhile they fall back
   * to their local state as during any outage.
   */
  reconnect (url: Secret): void {
    if (this.#closing) return
    // The new client first: should building it throw, the old connection stays in use.
    const next = this.#connect(url)
    const old = this.#client
    old.removeAllListeners()
    // An error the old client may still emit while closing has no one left to tell.
    old.on('error', () => {})
    old.disconnect()
    this.#enter('down')
    this.#client = next
  }

  get status (): RedisStatus {
    return this.#state === 'up' ? 'up' : 'down'
  }

  isUp (): boolean {
    return this.#state === 'up'
  }

  /** Resolves once the first connection attempt succeeded or failed (or the startup cap passed). */
  async settled (): Promise<void> {
    await this.#settled
  }

  /** Stops reconnecting and closes the connection; no state change is logged from here on. */
  async close (): Promise<void> {
    if (this.#closing) return
    this.#closing = true
    // Down from now on: nothing may use it, and redis_up says so (no state change is logged).
    this.#state = 'down'
    clearTimeout(this.#startupCap)
    this.#settle()
    const client = this.#client
    if (client.status !== 'ready') {
      // Not connected: cancels the pending reconnect; there is no socket to wait for.
      client.disconnect()
      return
    }
    // QUIT lets replies in flight arrive (commandTimeout bounds it); then wait, briefly, for the socket to close.
    const ended = new Promise<void>((resolve) => { client.once('end', resolve) })
    await client.quit().catch(() => { client.disconnect() })
    await Promise.race([ended, sleep(CLOSE_WAIT_MS, undefined, { ref: false })])
  }

  #enter (next: RedisStatus): void {
    const previous = this.#state
    if (previous === next || this.#closing) return
    this.#state = next
    clearTimeout(this.#startupCap)
    this.#settle()
    if (next === 'up') {
      this.#lastErrorClass = undefined
      this.#log.info({ redis: 'up' }, previous === 'starting' ? 'redis connected; sharing the token cache and rate limits' : 'redis connection restored; sharing the token cache and rate limits again')
      return
    }
    const fields = { redis: 'down', errorClass: this.#lastErrorClass ?? 'closed' }
    this.#log.warn(fields, previous === 'starting'
      ? 'redis unreachable; serving from the local token cache and local rate limits, reconnecting in the background'
      : 'redis connection lost; serving from the local token cache and local rate limits, reconnecting in the background')
  }
}
