// A real, throwaway redis-server (Debian package `redis-server`) for tests: its own free loopback
// port, no persistence, stopped on teardown. Tests control it to simulate faults: kill() (crash),
// pause()/resume() (a hung server, SIGSTOP/SIGCONT), restart() (same port, empty data).
// Only the pid this helper spawned is ever signalled.
//
// Also here, for the Redis tests: rateLimitKey, the key a rate-limit counter lives under.
//
// Outside CI, tests that need Redis skip with a visible reason when redis-server is not installed;
// with CI=true (set by .ci/run) they run, and fail, instead.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { sha256 } from '../../src/lib/secret.js'
import type { Test } from 'tap'
import { freePort } from './net.js'

const BINARY = 'redis-server'
const START_DEADLINE_MS = 10_000
const STOP_DEADLINE_MS = 5_000

export interface RedisServerOptions {
  /** A fixed port (e.g. one an app already tries to reach); default a free one. */
  port?: number
  /** requirepass; the url then carries it. */
  password?: string
}

export interface RedisServer {
  /** redis://127.0.0.1:<port>, with `:password@` when one is set */
  readonly url: string
  readonly port: number
  /** SIGTERM and wait for exit. */
  stop (): Promise<void>
  /** SIGKILL and wait for exit: a crash. */
  kill (): Promise<void>
  /** Starts again on the same port (after stop/kill), with no data. */
  restart (): Promise<void>
  /** SIGSTOP: the server accepts bytes but answers nothing. */
  pause (): void
  /** SIGCONT. */
  resume (): void
  /** A plain client for inspecting the server; closed on teardown. */
  client (): Redis
}

/**
 * Redis client timings for app tests that assert exact sharing (one fetch, exactly N allowed):
 * long enough that a slow reply under CPU load never turns into a local fallback, and quick
 * reconnects so restarts are seen fast. The socket timeout stays moderate: ioredis leaves its
 * (ref'd) socket-timeout timer running when a connection drops mid-command, which holds a test
 * process open for that long after its last test.
 */
export const PATIENT_TIMINGS = {
  connectTimeoutMs: 10_000,
  commandTimeoutMs: 10_000,
  socketTimeoutMs: 5_000,
  maxReconnectDelayMs: 100,
  startupWaitMs: 15_000
}

/**
 * The Redis key a rate-limit key (`api_key:<name>`, `address:<ip>`) is counted under: the
 * store's namespace (the app's is `wts:rl:`) and the key's SHA-256, base64url, never the key itself.
 */
export function rateLimitKey (key: string, nameSpace = 'wts:rl:'): string {
  return nameSpace + sha256(key).toString('base64url')
}

let installed: boolean | undefined

export function redisServerInstalled (): boolean {
  installed ??= spawnSync(BINARY, ['--version'], { stdio: 'ignore' }).status === 0
  return installed
}

/** For `t.test(name, { skip: redisSkip() }, ...)`: a reason to skip, or false to run. */
export function redisSkip (): string | false {
  if (redisServerInstalled() || process.env.CI === 'true') return false
  return 'redis-server is not installed (apt-get install redis-server); Redis tests are skipped outside CI'
}

/** Starts a redis-server for this test; it is stopped on teardown. */
export async function startRedisServer (t: Test, opts: RedisServerOptions = {}): Promise<RedisServer> {
  if (!redisServerInstalled()) throw new Error('redis-server is not installed; Redis tests cannot run (CI=true makes them mandatory)')
  const dir = mkdtempSync(join(tmpdir(), 'wts-redis-'))
  let port = opts.port ?? await freePort()
  let child: ChildProcess | undefined
  const clients: Redis[] = []

  /** On first start, a port taken since freePort() looked is retried with another; a restart keeps its port. */
  const launch = async (retries: number): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      try {
        child = await spawnRedis(port, dir, opts.password)
        return
      } catch (err) {
        if (attempt >= retries) throw err
        port = await freePort()
      }
    }
  }

  const signalAndWait = async (signal: NodeJS.Signals): Promise<void> => {
    const running = child
    child = undefined
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return
    const exited = new Promise<void>((resolve) => running.once('exit', () => { resolve() }))
    if (signal === 'SIGTERM') running.kill('SIGCONT')
    running.kill(signal)
    const timer = setTimeout(() => running.kill('SIGKILL'), STOP_DEADLINE_MS)
    await exited
    clearTimeout(timer)
  }

  await launch(opts.port === undefined ? 2 : 0)
  t.teardown(async () => {
    for (const c of clients) c.disconnect()
    await signalAndWait('SIGTERM')
    rmSync(dir, { recursive: true, force: true })
  })

  return {
    get url () { return `redis://${opts.password === undefined ? '' : `:${encodeURIComponent(opts.password)}@`}127.0.0.1:${port}` },
    get port () { return port },
    stop: async () => { await signalAndWait('SIGTERM') },
    kill: async () => { await signalAndWait('SIGKILL') },
    restart: async () => {
      await signalAndWait('SIGKILL')
      await launch(0)
    },
    pause: () => { child?.kill('SIGSTOP') },
    resume: () => { child?.kill('SIGCONT') },
    client: () => {
      const c = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1, password: opts.password })
      c.on('error', () => {})
      clients.push(c)
      return c
    }
  }
}

/** Spawns redis-server and resolves once it accepts connections; rejects if it exits first. */
async function spawnRedis (port: number, dir: string, password: string | undefined): Promise<ChildProcess> {
  const child = spawn(BINARY, [
    '--port', String(port), '--bind', '127.0.0.1',
    '--save', '', '--appendonly', 'no', '--dir', dir,
    '--daemonize', 'no', '--loglevel', 'notice',
    ...(password === undefined ? [] : ['--requirepass', password])
  ], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`redis-server did not start within ${START_DEADLINE_MS} ms`))
    }, START_DEADLINE_MS)
    const onData = (chunk: Buffer): void => {
      output += chunk.toString('utf8')
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer)
        child.stdout?.off('data', onData)
        child.stdout?.resume()
        child.removeListener('exit', onExit)
        resolve(child)
      }
    }
    const onExit = (code: number | null): void => {
      clearTimeout(timer)
      reject(new Error(`redis-server exited (${code}) before it was ready: ${output.slice(-500)}`))
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString('utf8') })
    child.once('exit', onExit)
  })
}
