// Starting the three kinds of server process a row can be served by (bare Fastify, the naive
// token server, the service), alone or all together, wired to the fixtures: the full run,
// compare and profile modes all start them here, so every mode measures the same processes.
import { startChild, type BenchChild } from './child.js'
import { startNaive, startService, type StartServiceOptions } from './fixtures.js'
import { checkScenarios, replayServiceReply, type BenchContext, type ServerKind, type Servers } from './scenarios.js'

/** One server process of the given kind; `opts` (node flags, another checkout) as for the service. */
export async function startServer (kind: ServerKind, { settings, fixtures }: BenchContext, opts: StartServiceOptions = {}): Promise<BenchChild> {
  if (kind === 'bare') return await startChild({ file: 'bare-fastify.ts', nodeFlags: opts.nodeFlags, wrapper: opts.wrapper, built: opts.built })
  if (kind === 'naive') return await startNaive(fixtures, { nodeFlags: opts.nodeFlags, wrapper: opts.wrapper, built: opts.built })
  return await startService(fixtures, settings, {}, opts)
}

/** Stops every process given, together; all are stopped even if one stop fails. */
export async function stopAll (children: Array<BenchChild | undefined>): Promise<void> {
  const results = await Promise.allSettled(children.map(async (child) => await child?.stop()))
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failed !== undefined) throw failed.reason
}

/**
 * Bare Fastify, the naive server and the service, each in its own process; bare Fastify replays
 * the service's API-key reply (the bare-reply row), and every row is checked with one request.
 * Whatever was started is stopped again if a later step fails.
 */
export async function startServers (ctx: BenchContext): Promise<Servers> {
  const started: BenchChild[] = []
  try {
    const bare = await startServer('bare', ctx)
    started.push(bare)
    const naive = await startServer('naive', ctx)
    started.push(naive)
    const service = await startServer('service', ctx)
    started.push(service)
    const servers = { bare, naive, service }
    await replayServiceReply(bare, service, ctx.fixtures.apiKey)
    await checkScenarios(ctx.scenarios, servers)
    return servers
  } catch (err) {
    await stopAll(started).catch(() => {})
    throw err
  }
}
