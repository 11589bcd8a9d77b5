// Profile mode (`--profile <row>`, any row's name): one measured window of one row with its
// server (bare Fastify, the naive server or the service) under `node --cpu-prof`, then a summary
// of where its main thread spent the CPU, printed and written to
// bench/results/profile-<row>.json next to the raw .cpuprofile. With `--perf`, the server runs
// under Linux perf instead (`perf record -g`, with `node --perf-basic-prof` so JIT frames have
// names), which also sees the kernel's share of the process's CPU: the .cpuprofile charges kernel
// time to whichever JavaScript frame made the system call.
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { formatSummary, summarize, type CpuProfile } from './cpuprofile-summary.js'
import { startService } from './fixtures.js'
import type { LoadRun } from './load.js'
import { measure, replayServiceReply, scenario, type BenchContext } from './scenarios.js'
import { startServer } from './servers.js'
import { RESULTS } from './settings.js'

export async function profile (ctx: BenchContext, name: string): Promise<void> {
  const { settings, fixtures, scenarios } = ctx
  const s = scenario(scenarios, name)
  const dir = `${RESULTS}profiles`
  mkdirSync(dir, { recursive: true })
  if (settings.perf && spawnSync('perf', ['--version']).status !== 0) throw new Error('--perf needs Linux perf (apt-get install linux-perf)')
  // --perf-basic-prof also opens V8's log, by default as isolate-*.log in the working directory:
  // it goes next to the profiles instead.
  const nodeFlags = settings.perf
    ? ['--perf-basic-prof', '--no-logfile-per-isolate', `--logfile=${dir}/v8-perf.log`]
    : ['--cpu-prof', `--cpu-prof-dir=${dir}`]
  // `bare`, `bare-reply` and `naive` profile the reference servers themselves, for comparison.
  const child = await startServer(s.server, ctx, { nodeFlags })
  if (s.name === 'bare-reply') {
    // A service only long enough to record the reply to replay.
    const service = await startService(fixtures, settings)
    try { await replayServiceReply(child, service, fixtures.apiKey) } finally { await service.stop() }
  }
  let run: LoadRun
  const perfData = `${RESULTS}perf-${s.name}.data`
  // Recording from the first connection to the end of the window: ramp-up and warm-up serve the same requests.
  const perf = settings.perf ? spawn('perf', ['record', '-F', '2000', '-g', '-p', String(child.pid), '-o', perfData], { stdio: 'ignore' }) : undefined
  try {
    run = await measure(s, child, settings.durationS)
  } finally {
    if (perf !== undefined) {
      perf.kill('SIGINT')
      if (perf.exitCode === null) await once(perf, 'exit')
    }
    await child.stop()
  }
  if (perf !== undefined) {
    const byDso = spawnSync('perf', ['report', '-i', perfData, '--no-children', '--sort', 'dso', '--stdio', '-g', 'none'], { encoding: 'utf8' }).stdout
    process.stdout.write(`perf profile of the ${s.server} process under "${s.label}" (LOG_LEVEL=${settings.logLevel}): ${Math.round(run.rps)} req/s, ${run.cpuUsPerRequest.toFixed(1)} µs CPU/req\n`)
    process.stdout.write(`${byDso.split('\n').filter((line) => /%/.test(line) && !line.startsWith('#')).join('\n')}\n\n`)
    process.stdout.write(`perf data: ${perfData} (JIT frames are named by /tmp/perf-${child.pid ?? ''}.map)\nread it with: perf report -i ${perfData} --no-children --sort dso,sym\n`)
    return
  }
  // One file per thread, named CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: thread 0 is the
  // main thread (the others are tsx's module loader).
  const mainThread = readdirSync(dir).find((f) => f.includes(`.${child.pid}.0.`) && f.endsWith('.cpuprofile'))
  if (mainThread === undefined) throw new Error('no .cpuprofile was written for the main thread')
  const file = `${dir}/${mainThread}`
  const summary = summarize(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, 30)
  const out = `${RESULTS}profile-${s.name}.json`
  writeFileSync(out, JSON.stringify({ scenario: s.name, logLevel: settings.logLevel, profile: file, rpsUnderProfiler: Math.round(run.rps), ...summary }, null, 2) + '\n')
  process.stdout.write(`CPU profile of the ${s.server} process under "${s.label}" (LOG_LEVEL=${settings.logLevel}), ${Math.round(run.rps)} req/s under the profiler\n`)
  process.stdout.write(formatSummary(summary) + `\n\nprofile: ${file}\nsummary: ${out}\n`)
}
