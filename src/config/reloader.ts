// Re-reads the files behind the `*_FILE` variables while the service runs, so operators rotate
// secrets and revoke API keys without a restart. Each check reads every such file; when one differs
// from what is in force, it is read again a moment later and taken only if it reads the same (a
// writer may be half-way through an in-place rewrite), then the whole configuration is parsed again
// by the pure parseConfig. A valid result replaces the configuration. When it is invalid, each
// changed credential (a client id with its secret, the API keys, the Redis URL) is tried alone on
// top of what is in force: the valid ones are taken, so a bad secret file never holds back the
// revocation of a leaked key; the invalid ones change nothing, are reported once, and stay `stale`
// until a valid file arrives. Following the path each time sees both an in-place rewrite and the
// Kubernetes Secret volume layout (a `..data` symlink swapped atomically). Values given directly as
// environment variables are read once, at startup, and never change.
//
// Listeners: 'reloaded' (config, changed variables) and 'rejected' (problems, `<NAME>_FILE` names).
import { EventEmitter } from 'node:events'
import { systemClock, type Clock } from '../lib/clock.js'
import { readSecretFiles, type ReadFile } from './load-config.js'
import { parseConfig, type SecretFileReads } from './parse-config.js'
import type { FileVariable } from './schema.js'
import type { Config } from './types.js'

export type ReloadResult =
  | { outcome: 'unchanged' }
  /** A file was still changing between two reads; the next check looks again. */
  | { outcome: 'unsettled' }
  | { outcome: 'reloaded', changed: FileVariable[] }
  /** Nothing changed: every changed file was refused. */
  | { outcome: 'rejected', variables: string[], problems: string[] }
  /** Some changed files were taken (`changed`), others refused (`variables`, `<NAME>_FILE`). */
  | { outcome: 'partial', changed: FileVariable[], variables: string[], problems: string[] }

export interface ConfigReloaderOptions {
  /** The environment the service started with: it names the files. */
  env: Readonly<Record<string, string | undefined>>
  /** The configuration in force at startup. */
  initial: Config
  /** What the files read when `initial` was parsed; read now when absent. */
  reads?: SecretFileReads
  readFile?: ReadFile
  clock?: Clock
  /** How long a changed file must read the same before it is taken. */
  settleMs?: number
}

export const DEFAULT_SETTLE_MS = 200

/** The text each read gave (or its error code): what "changed" compares. */
function fingerprint (reads: SecretFileReads, name: FileVariable): string | undefined {
  const read = reads[name]
  if (read === undefined) return undefined
  return 'text' in read ? `text:${read.text}` : `error:${read.errorCode}`
}

export class ConfigReloader extends EventEmitter<{ reloaded: [Config, FileVariable[]], rejected: [string[], string[]] }> {
  readonly #env: Readonly<Record<string, string | undefined>>
  readonly #readFile: ReadFile | undefined
  readonly #clock: Clock
  readonly #settleMs: number
  #config: Config
  /** The reads the configuration in force was parsed from. */
  #applied: SecretFileReads
  /** The reads last rejected, so a bad file is reported once, not at every check. */
  #rejected: SecretFileReads | undefined
  #stale: string[] = []
  /** The check running now. */
  #checking: Promise<ReloadResult> | undefined
  /** The check asked for while one ran: it starts when that one ends. */
  #next: Promise<ReloadResult> | undefined
  #timer: unknown

  constructor (opts: ConfigReloaderOptions) {
    super()
    this.#env = opts.env
    this.#readFile = opts.readFile
    this.#clock = opts.clock ?? systemClock
    this.#settleMs = opts.settleMs ?? DEFAULT_SETTLE_MS
    this.#config = opts.initial
    this.#applied = opts.reads ?? this.#read()
  }

  get config (): Config {
    return this.#config
  }

  /** `<NAME>_FILE` names whose new content was refused, until a valid one arrives; empty when current. */
  get stale (): readonly string[] {
    return this.#stale
  }

  /**
   * One look at the files (a poll, SIGHUP, a provider refusing the credentials) that reads them
   * after this call: asked for while a check runs, it runs next, as the running one may have read
   * the files before a change this caller knows of. Callers asking meanwhile share that next look.
   */
  async check (): Promise<ReloadResult> {
    if (this.#checking === undefined) return await this.#run()
    // After the running one however it ends (a check never rejects on bad input; a bug must not
    // leave later checks waiting on its rejection).
    this.#next ??= this.#checking.catch(() => {}).then(async () => {
      this.#next = undefined
      return await this.#run()
    })
    return await this.#next
  }

  async #run (): Promise<ReloadResult> {
    this.#checking = this.#check().finally(() => { this.#checking = undefined })
    return await this.#checking
  }

  /** Checks every `seconds`, on the clock's unref'd timers, until stop(). */
  start (seconds: number): void {
    if (Object.keys(this.#config.secretFiles).length === 0) return
    const tick = (): void => {
      this.#timer = this.#clock.setTimer(() => {
        // A check never rejects on bad input; a failure here would be a bug, and must not stop polling.
        this.check().catch(() => {}).finally(tick)
      }, seconds * 1000)
    }
    tick()
  }

  stop (): void {
    this.#clock.clearTimer(this.#timer)
    this.#timer = undefined
  }

  #read (): SecretFileReads {
    return readSecretFiles(this.#env, this.#readFile)
  }

  #changed (reads: SecretFileReads): FileVariable[] {
    return (Object.keys(this.#config.secretFiles) as FileVariable[])
      .filter((name) => fingerprint(reads, name) !== fingerprint(this.#applied, name))
  }

  async #check (): Promise<ReloadResult> {
    const first = this.#read()
    const changed = this.#changed(first)
    if (changed.length === 0) {
      // Back to what is in force (a bad file was put back): nothing is stale any more.
      this.#stale = []
      this.#rejected = undefined
      return { outcome: 'unchanged' }
    }
    await new Promise<void>((resolve) => { this.#clock.setTimer(resolve, this.#settleMs) })
    const reads = this.#read()
    // Every file, not only those that had changed: one that changed during the wait is settled no
    // more than one half-way through a write, and is taken, with its effect, only by a later check.
    const names = Object.keys(this.#config.secretFiles) as FileVariable[]
    if (names.some((name) => fingerprint(reads, name) !== fingerprint(first, name))) return { outcome: 'unsettled' }

    const whole = parseConfig(this.#env, reads)
    if (whole.ok) return this.#take(whole.config, reads, changed)

    const taken: FileVariable[] = []
    const refused: FileVariable[] = []
    const problems: string[] = []
    for (const group of byCredential(changed)) {
      const alone = parseConfig(this.#env, this.#onApplied(reads, group))
      if (alone.ok) taken.push(...group)
      else {
        refused.push(...group)
        problems.push(...alone.problems)
      }
    }
    const applied = this.#onApplied(reads, taken)
    const partial = taken.length > 0 ? parseConfig(this.#env, applied) : undefined
    // Credentials are checked independently, so the valid ones parse together; if they ever did
    // not, nothing is taken.
    if (partial?.ok !== true) return this.#refuse(reads, changed, whole.problems)
    const rejected = this.#rejected
    this.#take(partial.config, applied, taken)
    this.#refuse(reads, refused, problems, rejected)
    return { outcome: 'partial', changed: taken, variables: refused.map((name) => `${name}_FILE`), problems }
  }

  /** What is in force, with the new reads of `names`. */
  #onApplied (reads: SecretFileReads, names: readonly FileVariable[]): SecretFileReads {
    const merged = { ...this.#applied }
    for (const name of names) merged[name] = reads[name]
    return merged
  }

  #take (config: Config, applied: SecretFileReads, changed: FileVariable[]): ReloadResult {
    this.#config = config
    this.#applied = applied
    this.#stale = []
    this.#rejected = undefined
    this.emit('reloaded', config, changed)
    return { outcome: 'reloaded', changed }
  }

  /** `rejected`: the reads refused before, so the same bad file is not reported again. */
  #refuse (reads: SecretFileReads, names: FileVariable[], problems: string[], rejected = this.#rejected): ReloadResult {
    const variables = names.map((name) => `${name}_FILE`)
    const repeated = rejected !== undefined && names.every((name) => fingerprint(reads, name) === fingerprint(rejected, name))
    this.#stale = variables
    this.#rejected = reads
    if (!repeated) this.emit('rejected', problems, variables)
    return { outcome: 'rejected', variables, problems }
  }
}

/** The names grouped by credential: a client id and its secret change together. */
function byCredential (names: readonly FileVariable[]): FileVariable[][] {
  // Map.groupBy would do, from Node 21.
  const groups = new Map<string, FileVariable[]>()
  for (const name of names) {
    const credential = name.replace(/_CLIENT_(ID|SECRET)$/, '')
    groups.set(credential, [...groups.get(credential) ?? [], name])
  }
  return [...groups.values()]
}
