// The benchmark's settings, parsed once from the command line by bench/run.ts and passed to
// every mode as one object (no module re-reads argv), and the fixed settings they all share.
import { fileURLToPath } from 'node:url'

export interface Settings {
  /** --quick: shorter windows. */
  quick: boolean
  /** --rounds, at least 2 (alternation needs two); undefined: each mode's own default. */
  rounds: number | undefined
  /** --duration: seconds per measured window. */
  durationS: number
  /** --log-level: the service's LOG_LEVEL. */
  logLevel: string
  /** --start-reps: starts of each process in the start and idle rows. */
  startReps: number
  /** False with --skip-build: the start and idle rows measure the dist/ already there. */
  build: boolean
  /** --perf (with --profile): the server under Linux perf instead of node --cpu-prof. */
  perf: boolean
  /** The command line as typed (`npm run bench -- …`), for the report. */
  command: string
}

/** autocannon's connections; every other autocannon option stays at its default (pipelining 1). */
export const CONNECTIONS = 100
export const WARMUP_S = 1

/** bench/results/ (ignored by git): latest.json, compare.json, profiles. */
export const RESULTS = fileURLToPath(new URL('results/', import.meta.url))
