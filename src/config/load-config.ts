// Loads the Config at startup: reads the files the `*_FILE` variables name, then parses (the pure
// parseConfig). `loadStartup` is the one reader of process.env. Throws one ConfigError carrying
// every problem, each naming a variable and never a value, so that startup fails fast with the
// whole list at once.
import { readFileSync } from 'node:fs'
import { logSafeCode } from '../lib/errors.js'
import { parseConfig, type SecretFileReads } from './parse-config.js'
import { FILE_VARIABLES } from './schema.js'
import type { Config } from './types.js'

export class ConfigError extends Error {
  /** One line per problem, each naming a variable; never a value. */
  readonly problems: string[]

  constructor (problems: readonly string[]) {
    super(problems.join('\n'))
    this.name = 'ConfigError'
    this.problems = [...problems]
  }
}

export type ReadFile = (path: string) => string

export interface LoadConfigDeps {
  /** Reads a `*_FILE` secret; defaults to fs.readFileSync as UTF-8. */
  readFile?: ReadFile
}

const defaultReadFile: ReadFile = path => readFileSync(path, 'utf8')

/** Reads every `<NAME>_FILE` the environment sets; a failure is kept as a log-safe code, never its message or path. */
export function readSecretFiles (env: Readonly<Record<string, string | undefined>>, readFile: ReadFile = defaultReadFile): SecretFileReads {
  const reads: SecretFileReads = {}
  for (const name of FILE_VARIABLES) {
    const path = env[`${name}_FILE`]
    if (path === undefined || path === '') continue
    try {
      reads[name] = { text: readFile(path) }
    } catch (err) {
      const code = logSafeCode(err)
      reads[name] = { errorCode: /^E[A-Z]+$/.test(code) ? code : '' }
    }
  }
  return reads
}

export function loadConfig (env: Readonly<Record<string, string | undefined>>, deps: LoadConfigDeps = {}): Config {
  return parsedOrThrow(env, readSecretFiles(env, deps.readFile))
}

export interface Startup {
  config: Config
  /** The environment the service started with: it names the files a reload re-reads. */
  env: Readonly<Record<string, string | undefined>>
  /** What the files read when `config` was parsed, so a reload compares against exactly that. */
  reads: SecretFileReads
}

/** The service's own start: a snapshot of process.env, the files it names, and the Config parsed from them. */
export function loadStartup (): Startup {
  const env = { ...process.env }
  const reads = readSecretFiles(env)
  return { config: parsedOrThrow(env, reads), env, reads }
}

function parsedOrThrow (env: Readonly<Record<string, string | undefined>>, reads: SecretFileReads): Config {
  const result = parseConfig(env, reads)
  if (!result.ok) throw new ConfigError(result.problems)
  return result.config
}
