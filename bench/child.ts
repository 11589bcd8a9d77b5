// Spawns a benchmark server process (`node --import tsx bench/<file>.ts`) on loopback with an
// IPC channel, and talks to it: wait for its port, ask for its stats, stop it. Stopping is
// bounded: a graceful stop over IPC, then SIGKILL of that one pid if it has not exited in time.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FromChild, RecordedReply, ToChild } from './protocol.js'

/** Generous: under valgrind a start takes a minute. */
const STARTUP_TIMEOUT_MS = 180_000
/** Under valgrind, writing the counts out on exit takes a while. */
const STOP_TIMEOUT_MS = 60_000
const STATS_TIMEOUT_MS = 5_000

export interface ChildOptions {
  /** File in bench/, e.g. 'service.ts'. */
  file: string
  /** Another checkout whose bench/<file> to run instead of this one's (`--compare`). */
  root?: string
  /** Extra node flags, e.g. ['--cpu-prof', '--cpu-prof-dir=…']. */
  nodeFlags?: string[]
  /** A command node runs under, e.g. ['valgrind', '--tool=cachegrind', …] (the instructions mode). */
  wrapper?: string[]
  /** Run this JavaScript file with plain node instead of bench/<file> through tsx (the instructions mode's builds). */
  built?: string
  /** Sent as the `start` message (service only). */
  start?: Extract<ToChild, { type: 'start' }>
}

export interface Stats { rssBytes: number, heapUsedBytes: number, cpuUs: number, received: number }

export interface BenchChild {
  readonly pid: number
  readonly url: string
  stats (): Promise<Stats>
  /** Bare Fastify only: answer GET /replay with this reply from now on. */
  replay (reply: RecordedReply): Promise<void>
  stop (): Promise<void>
}

/**
 * The child's next IPC message of one of `types` (messages of type `M`, the bench protocol's by
 * default); rejects when the child exits first or `timeoutMs` passes. scripts/soak.ts uses it too.
 */
export async function nextMessage<M extends { type: string } = FromChild, T extends M['type'] = M['type']> (child: ChildProcess, types: readonly T[], timeoutMs: number): Promise<Extract<M, { type: T }>> {
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { finish(); reject(new Error(`no ${types.join('/')} message within ${timeoutMs} ms`)) }, timeoutMs)
    const onMessage = (message: M): void => {
      if (!(types as readonly string[]).includes(message.type)) return
      finish()
      resolve(message as Extract<M, { type: T }>)
    }
    const onExit = (code: number | null): void => { finish(); reject(new Error(`child exited (code ${code})`)) }
    function finish (): void {
      clearTimeout(timer)
      child.off('message', onMessage)
      child.off('exit', onExit)
    }
    child.on('message', onMessage)
    child.on('exit', onExit)
  })
}

export async function startChild (opts: ChildOptions): Promise<BenchChild> {
  const script = opts.root === undefined ? fileURLToPath(new URL(opts.file, import.meta.url)) : join(opts.root, 'bench', opts.file)
  // stdout (the service's pino log) goes to /dev/null: logging costs its serialisation and the
  // batched write(2)s of its stdout destination, minus any log collector's own work.
  const nodeArgs = [...(opts.nodeFlags ?? []), ...(opts.built === undefined ? ['--import', 'tsx', script] : [opts.built])]
  const [command, ...args] = [...(opts.wrapper ?? []), process.execPath, ...nodeArgs] as [string, ...string[]]
  const child = spawn(command, args, {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    // Only what node and tsx need; the service's configuration arrives over IPC.
    env: { PATH: process.env.PATH ?? '' }
  })
  let stderr = ''
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (chunk: string) => { if (stderr.length < 8192) stderr += chunk })
  const pid = child.pid
  if (pid === undefined) throw new Error(`cannot spawn ${opts.file}`)

  const ready = nextMessage(child, ['listening', 'failed'], STARTUP_TIMEOUT_MS)
  if (opts.start !== undefined) child.send(opts.start)
  let first: FromChild
  try {
    first = await ready
  } catch (err) {
    child.kill('SIGKILL')
    throw new Error(`${opts.file} did not start: ${(err as Error).message}\n${stderr}`)
  }
  if (first.type === 'failed') {
    child.kill('SIGKILL')
    throw new Error(`${opts.file} failed to start: ${first.message}`)
  }
  const port = first.type === 'listening' ? first.port : 0

  let exited = child.exitCode !== null
  child.once('exit', () => { exited = true })

  return {
    pid,
    url: `http://127.0.0.1:${port}`,
    async stats () {
      const reply = nextMessage(child, ['stats'], STATS_TIMEOUT_MS)
      child.send({ type: 'stats' } satisfies ToChild)
      const { rssBytes, heapUsedBytes, cpuUs, received } = await reply
      return { rssBytes, heapUsedBytes, cpuUs, received }
    },
    async replay (reply: RecordedReply) {
      const applied = nextMessage(child, ['replaying'], STATS_TIMEOUT_MS)
      child.send({ type: 'replay', reply } satisfies ToChild)
      await applied
    },
    async stop () {
      if (exited) return
      const exit = once(child, 'exit')
      child.send({ type: 'stop' } satisfies ToChild)
      const timer = setTimeout(() => { if (!exited) child.kill('SIGKILL') }, STOP_TIMEOUT_MS)
      await exit
      clearTimeout(timer)
    }
  }
}
