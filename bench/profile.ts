// Profile mode (`--profile <scenario|bare|bare-reply>`): one measured window of one scenario with the
// server under `node --cpu-prof`, then a summary of where its main thread spent the CPU, printed
// and written to bench/results/profile-<scenario>.json next to the raw .cpuprofile.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { startChild } from './child.js'
import { formatSummary, summarize, type CpuProfile } from './cpuprofile-summary.js'
import { startService } from './fixtures.js'
import type { LoadRun } from './load.js'
import { measure, replayServiceReply, scenario, servedByBare, type BenchContext } from './scenarios.js'
import { RESULTS } from './settings.js'

export async function profile ({ settings, fixtures, scenarios }: BenchContext, name: string): Promise<void> {
  const s = scenario(scenarios, name)
  const dir = `${RESULTS}profiles`
  mkdirSync(dir, { recursive: true })
  const nodeFlags = ['--cpu-prof', `--cpu-prof-dir=${dir}`]
  // `bare` and `bare-reply` profile the ceiling itself, for comparison.
  const child = servedByBare(s) ? await startChild({ file: 'bare-fastify.ts', nodeFlags }) : await startService(fixtures, settings, {}, { nodeFlags })
  if (s.name === 'bare-reply') {
    // A service only long enough to record the reply to replay.
    const service = await startService(fixtures, settings)
    try { await replayServiceReply(child, service, fixtures.apiKey) } finally { await service.stop() }
  }
  let run: LoadRun
  try {
    run = await measure(s, child, settings.durationS)
  } finally {
    await child.stop()
  }
  // One file per thread, named CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: thread 0 is the
  // main thread (the others are tsx's module loader).
  const mainThread = readdirSync(dir).find((f) => f.includes(`.${child.pid}.0.`) && f.endsWith('.cpuprofile'))
  if (mainThread === undefined) throw new Error('no .cpuprofile was written for the main thread')
  const file = `${dir}/${mainThread}`
  const summary = summarize(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, 30)
  const out = `${RESULTS}profile-${s.name}.json`
  writeFileSync(out, JSON.stringify({ scenario: s.name, logLevel: settings.logLevel, profile: file, rpsUnderProfiler: Math.round(run.rps), ...summary }, null, 2) + '\n')
  process.stdout.write(`CPU profile of the service under "${s.label}" (LOG_LEVEL=${settings.logLevel}), ${Math.round(run.rps)} req/s under the profiler\n`)
  process.stdout.write(formatSummary(summary) + `\n\nprofile: ${file}\nsummary: ${out}\n`)
}
