// Log lines gathered into batches before they reach the destination that writes them, so the
// request path pays for one write(2) per batch instead of one per line, and a line still reaches
// the destination within `flushMs`. Written here rather than with sonic-boom's own `minLength`
// (pino.destination's batching) because that one measures the whole pending batch's UTF-8 length
// on every line, which flattens and scans up to `bytes` of text per request line
// (docs/performance.md prices it). The writing itself, with its partial writes, EAGAIN retries
// and final flushSync, stays the destination's.
import type { Clock, TimerHandle } from './clock.js'

/** What writes a batch: pino's synchronous destination (sonic-boom) in production. */
export interface BatchSink {
  write (chunk: string): unknown
  flushSync (): void
}

export interface LogBatch {
  /** pino's destination stream: one log line per write. */
  readonly stream: { write (line: string): void }
  /** Writes what is buffered, synchronously (src/server.ts calls it on every exit). */
  close (): void
}

export interface LogBatchOptions {
  /** A batch is handed on once it holds this many characters. */
  bytes: number
  /** The longest a line waits for its batch. */
  flushMs: number
  clock: Clock
}

export function batchLines (sink: BatchSink, { bytes, flushMs, clock }: LogBatchOptions): LogBatch {
  let lines: string[] = []
  let size = 0
  let timer: TimerHandle | undefined

  function flush (): void {
    if (lines.length === 0) return
    const batch = lines.join('')
    lines = []
    size = 0
    sink.write(batch)
  }

  // One timer at a time, armed by the first line that finds none: a batch flushed by size leaves
  // it running (cheaper than clearing it each batch), and it flushes whatever is pending then.
  function onTimer (): void {
    timer = undefined
    flush()
  }

  return {
    stream: {
      write (line) {
        lines.push(line)
        size += line.length
        if (size >= bytes) flush()
        else if (timer === undefined) timer = clock.setTimer(onTimer, flushMs)
      }
    },
    close () {
      if (timer !== undefined) clock.clearTimer(timer)
      timer = undefined
      flush()
      sink.flushSync()
    }
  }
}
