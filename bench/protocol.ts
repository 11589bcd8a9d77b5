// The IPC messages between the benchmark orchestrator (bench/run.ts) and the server processes it
// spawns (bench/bare-fastify.ts, bench/naive.ts, bench/service.ts). Configuration travels over
// IPC rather than the environment, so a developer's shell settings never leak into what is measured.

export type ToChild =
  /**
   * Service: the environment object handed to loadConfig; `countRequests` counts HTTP requests
   * received. Naive: its token URL, credentials and API key (bench/fixtures.ts, naiveEnv).
   */
  | { type: 'start', env: Record<string, string>, countRequests: boolean }
  | { type: 'stats' }
  /** Bare only: from now on GET /replay answers with exactly this reply (see RecordedReply). */
  | { type: 'replay', reply: RecordedReply }
  /** Close the server and exit 0 (which also writes a --cpu-prof profile). */
  | { type: 'stop' }

export type FromChild =
  | { type: 'listening', port: number }
  /** cpuUs: user + system CPU time of the process so far, microseconds. */
  | { type: 'stats', rssBytes: number, heapUsedBytes: number, cpuUs: number, received: number }
  | { type: 'failed', message: string }
  /** Bare only: the replay message was applied. */
  | { type: 'replaying' }

/**
 * One reply of the service (status, end-to-end headers, body), for bare Fastify to send back
 * unchanged: what the same bytes cost without the service's work (the `bare-reply` row).
 */
export interface RecordedReply {
  status: number
  headers: Record<string, string>
  body: string
}

/** Process memory and CPU time and, when counting was asked for, HTTP requests received so far. */
export function statsMessage (received: number): FromChild {
  const { rss, heapUsed } = process.memoryUsage()
  const { user, system } = process.cpuUsage()
  return { type: 'stats', rssBytes: rss, heapUsedBytes: heapUsed, cpuUs: user + system, received }
}

/** Sends a message to the orchestrator (server processes only). */
export function send (message: FromChild): void {
  process.send?.(message)
}

/** Resolves with the orchestrator's `start` message (server processes only). */
export async function startMessage (): Promise<Extract<ToChild, { type: 'start' }>> {
  return await new Promise((resolve) => {
    const onMessage = (message: ToChild): void => {
      if (message.type !== 'start') return
      process.off('message', onMessage)
      resolve(message)
    }
    process.on('message', onMessage)
  })
}
