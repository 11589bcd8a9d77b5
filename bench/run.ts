// `npm run bench`: measures what a user pointing autocannon (default options, 100 connections)
// at the service sees, side by side in one run with what they would compare it against. Starts,
// each in its own process on 127.0.0.1 (free ports): a bare Fastify hello-world (which also
// replays one recorded service reply: the bare-reply row), a naive token server (no logger, a
// plain API-key compare, one cached token) and the service (bench/service.ts); this process
// hosts the provider emulator, the JWKS and the load generator. Alternates the rows in rounds,
// then runs the refresh-under-load and stampede scenarios on fresh service processes, then the
// start and idle cost of bare Fastify against the built service (it runs `npm run build`
// first). Prints the tables and writes bench/results/latest.json.
//
//   npm run bench                       # full: 2 rounds × 10 s per row + start/idle, 5 to 6 minutes
//   npm run bench -- --quick            # 2 rounds × 3 s per row
//   npm run bench -- --rounds 3 --duration 5   # other round counts and window lengths (s)
//   npm run bench -- --start-reps 7     # starts of each process in the start/idle rows (default 5)
//   npm run bench -- --skip-build       # measure the dist/ already there instead of building it
//   npm run bench -- --start-only       # only the start/idle rows (bench/results/startup.json)
//   npm run bench -- --log-level warn   # the service at another LOG_LEVEL, to price logging
//   npm run bench -- --profile api-key  # CPU profile of one row's server (any row's name)
//   npm run bench -- --profile api-key --perf   # the same under Linux perf, kernel included
//   npm run bench -- --compare DIR_A --compare DIR_B   # A/B of the services of two checkouts
//   npm run bench -- --log-lines        # CPU per request log line through each log destination
//   npm run bench -- --instructions     # instructions per request under valgrind (noise-free)
//   npm run bench -- --instructions --compare DIR_A --compare DIR_B   # the same, A/B of two checkouts
//
// Not part of `npm test`; no unit test asserts a timing. This file is the command line; the
// modes live next to it: full-run.ts, profile.ts, compare.ts, startup.ts and log-lines.ts.
import { mkdirSync, writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { compare } from './compare.js'
import { createFixtures } from './fixtures.js'
import { fullRun } from './full-run.js'
import { profile } from './profile.js'
import { createScenarios, type BenchContext } from './scenarios.js'
import { RESULTS, type Settings } from './settings.js'
import { ensureBuilt, measureStartup } from './startup.js'
import { formatStartupWithTargets } from './startup-report.js'
import { instructions } from './instructions.js'
import { logLines } from './log-lines.js'

const argv = process.argv.slice(2)
const { values: args } = parseArgs({
  args: argv,
  options: {
    quick: { type: 'boolean', default: false },
    'log-level': { type: 'string', default: 'info' },
    profile: { type: 'string' },
    rounds: { type: 'string' },
    duration: { type: 'string' },
    compare: { type: 'string', multiple: true },
    'start-reps': { type: 'string' },
    'start-only': { type: 'boolean', default: false },
    'skip-build': { type: 'boolean', default: false },
    perf: { type: 'boolean', default: false },
    instructions: { type: 'boolean', default: false },
    'log-lines': { type: 'boolean', default: false }
  }
})
function positive (name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback
  const n = Number(value)
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number`)
  return n
}
const settings: Settings = {
  quick: args.quick,
  // Alternation needs at least two rounds.
  rounds: args.rounds === undefined ? undefined : Math.max(2, Math.round(positive('rounds', args.rounds, 2))),
  durationS: positive('duration', args.duration, args.quick ? 3 : 10),
  logLevel: args['log-level'],
  startReps: Math.round(positive('start-reps', args['start-reps'], 5)),
  build: !args['skip-build'],
  perf: args.perf,
  command: `npm run bench${argv.length > 0 ? ` -- ${argv.join(' ')}` : ''}`
}

/** `--start-only`: the start and idle rows alone, written to bench/results/startup.json. */
async function startOnly (ctx: BenchContext): Promise<void> {
  const result = await measureStartup(ctx.fixtures, settings.startReps)
  mkdirSync(RESULTS, { recursive: true })
  writeFileSync(`${RESULTS}startup.json`, JSON.stringify({ date: new Date().toISOString(), command: settings.command, node: process.version, ...result }, null, 2) + '\n')
  process.stdout.write(formatStartupWithTargets(result) + '\nwrote bench/results/startup.json\n')
}

if (args.perf && args.profile === undefined) throw new Error('--perf goes with --profile <row>')

if (args['log-lines']) {
  // In this process alone: no servers, no fixtures.
  logLines(settings.rounds ?? 4, settings.command)
  process.exit(0)
}

const measuresStart = args.profile === undefined && args.compare === undefined && !args.instructions
// Before any server starts: a build failure ends the run at once, and its CPU overlaps nothing.
if (measuresStart) ensureBuilt(settings.build)

const fixtures = await createFixtures()
try {
  const ctx: BenchContext = { settings, fixtures, scenarios: createScenarios(fixtures) }
  if (args.profile !== undefined) await profile(ctx, args.profile)
  else if (args.instructions) await instructions(ctx, args.compare)
  else if (args.compare !== undefined) await compare(ctx, args.compare)
  else if (args['start-only']) await startOnly(ctx)
  else await fullRun(ctx)
} finally {
  await fixtures.emulator.close()
  await fixtures.idp.close()
}
