// The logger domain code writes to: the pino subset it uses, so the token manager, the sources
// and Redis code log without depending on Fastify or pino. Fastify's logger satisfies it.
import { noop } from './values.js'

export interface Logger {
  debug (obj: object, msg?: string): void
  info (obj: object, msg?: string): void
  warn (obj: object, msg?: string): void
  error (obj: object, msg?: string): void
}

/** For library users and tests that pass no logger. */
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop }
