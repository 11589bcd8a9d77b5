// A Logger (the pino subset domain code writes to) that keeps every line, for assertions on what
// was logged and at which level.
import type { Logger } from '../../src/lib/logger.js'

export interface LogLine { level: 'debug' | 'info' | 'warn' | 'error', obj: Record<string, unknown>, msg: string }

export function captureLogger (): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = []
  const at = (level: LogLine['level']) => (obj: object, msg?: string): void => {
    lines.push({ level, obj: { ...obj }, msg: msg ?? '' })
  }
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
}
