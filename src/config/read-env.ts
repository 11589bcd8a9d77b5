// Reads the known variables out of an environment: resolves `<NAME>_FILE` secrets, applies the
// schema's defaults, checks each value's shape against EnvSchema, and records problems that
// name the variable but never its value. loadConfig builds the Config on top of this.
import { Value } from 'typebox/value'
import {
  describeVariable, ENV_NAMES, EnvSchema, FILE_NAMES, INTEGER_RANGES,
  type EnvName, type IntegerName, type RawEnv,
} from './env-schema.js'

export type ReadFile = (path: string) => string

/** Set to "" means unset, except where a number is required: there "" is a problem. */
function isUnset (name: EnvName, value: string | undefined): value is undefined | '' {
  return value === undefined || (value === '' && !(name in INTEGER_RANGES) && name !== 'TOKEN_REFRESH_AT')
}

function errorCode (err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && /^[A-Z][A-Z0-9_]{0,31}$/.test(code) ? ` (${code})` : ''
}

export class EnvReader {
  readonly problems: string[] = []
  /** Valid values, defaults included; a variable with a problem has none. */
  readonly #values = new Map<EnvName, string>()
  /** Set by the operator in either form, even if its file could not be read. */
  readonly #set = new Set<EnvName>()
  readonly #fromFile = new Set<EnvName>()

  constructor (env: Record<string, string | undefined>, readFile: ReadFile) {
    const raw: Record<string, string> = {}
    for (const name of ENV_NAMES) {
      const value = env[name]
      if (!isUnset(name, value)) {
        raw[name] = value
        this.#set.add(name)
      }
    }
    for (const name of FILE_NAMES) this.#readFileForm(name, env, readFile, raw)

    const withDefaults = Value.Default(EnvSchema, raw) as Record<string, unknown>
    const invalid = new Set<string>()
    for (const error of Value.Errors(EnvSchema, withDefaults)) {
      const name = error.instancePath.slice(1) as EnvName
      if (!invalid.has(name)) {
        invalid.add(name)
        this.problem(name, `must be ${describeVariable(name)}`)
      }
    }
    for (const name of ENV_NAMES) {
      const value = withDefaults[name]
      if (typeof value === 'string' && !invalid.has(name)) this.#values.set(name, value)
    }
    for (const name of Object.keys(INTEGER_RANGES) as IntegerName[]) this.#checkRange(name)
  }

  #readFileForm (name: typeof FILE_NAMES[number], env: Record<string, string | undefined>, readFile: ReadFile, raw: Record<string, string>): void {
    const fileName = `${name}_FILE`
    const path = env[fileName]
    if (path === undefined || path === '') return
    if (this.#set.has(name)) {
      this.problems.push(`${name} and ${fileName} are both set: set only one`)
      return
    }
    this.#set.add(name)
    this.#fromFile.add(name)
    let content: string
    try {
      content = readFile(path)
    } catch (err) {
      this.problems.push(`${fileName}: cannot read the file${errorCode(err)}`)
      return
    }
    content = content.trim()
    if (content === '') {
      this.problems.push(`${fileName}: the file is empty`)
      return
    }
    raw[name] = content
  }

  #checkRange (name: IntegerName): void {
    const value = this.#values.get(name)
    if (value === undefined) return
    const [min, max] = INTEGER_RANGES[name]
    const n = Number(value)
    if (n < min || n > max) {
      this.#values.delete(name)
      this.problem(name, `must be ${describeVariable(name)}`)
    }
  }

  /** Whether the operator set the variable, in either form, valid or not. */
  has (name: EnvName): boolean {
    return this.#set.has(name)
  }

  /** The variable's valid value or its default; undefined when unset or invalid (a problem was recorded). */
  get<N extends EnvName> (name: N): RawEnv[N] {
    // Every stored value passed EnvSchema, so it has the schema's static type.
    return this.#values.get(name) as RawEnv[N]
  }

  /** The variable as the operator set it: `NAME`, or `NAME (read from NAME_FILE)`. */
  label (name: EnvName): string {
    return this.#fromFile.has(name) ? `${name} (read from ${name}_FILE)` : name
  }

  /** Records a problem about a variable. `text` must never contain the value. */
  problem (name: EnvName, text: string): void {
    this.problems.push(`${this.label(name)}: ${text}`)
  }
}
