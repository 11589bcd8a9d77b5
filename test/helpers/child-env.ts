// Environment for child processes that tests spawn (the server, the demo, the emulator CLI).
// Drops tap's coverage and loader variables: a child runs the TypeScript through tsx, whose
// transpiled output maps differently from tap's own loader, and merging its V8 coverage into the
// parent's corrupts the report. Also drops every variable the service reads (each name in
// src/config/schema.ts and the `<NAME>_FILE` form of each FILE_VARIABLES entry) and the
// emulator's EMULATOR_* variables, so a developer's own shell settings cannot leak into a test.
import { ENV_NAMES, FILE_VARIABLES } from '../../src/config/schema.js'

const DROP_PREFIX = /^(NODE_V8_COVERAGE|NODE_OPTIONS|TAP|_TAPJS|TS_NODE_|EMULATOR_)/
const DROP_NAMES: ReadonlySet<string> = new Set<string>([...ENV_NAMES, ...FILE_VARIABLES.map((name) => `${name}_FILE`)])

export function childEnv (extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !DROP_PREFIX.test(k) && !DROP_NAMES.has(k)) env[k] = v
  return { ...env, ...extra }
}
