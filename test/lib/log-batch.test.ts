// src/lib/log-batch.ts: log lines reach the sink in batches, in order, none lost: by size, by
// time (the fake clock), and on close.
import t from 'tap'
import { batchLines, type BatchSink } from '../../src/lib/log-batch.js'
import { FakeClock } from '../helpers/fake-clock.js'

function recordingSink (): BatchSink & { writes: string[], flushes: number } {
  return {
    writes: [],
    flushes: 0,
    write (chunk) { this.writes.push(chunk) },
    flushSync () { this.flushes++ }
  }
}

const line = (i: number): string => `{"n":${i},"msg":"request completed"}\n`

t.test('a batch is handed on once it holds `bytes` characters, lines in order', async (t) => {
  const sink = recordingSink()
  const clock = new FakeClock()
  const logs = batchLines(sink, { bytes: 100, flushMs: 1000, clock })
  const written: string[] = []
  for (let i = 0; i < 7; i++) {
    written.push(line(i))
    logs.stream.write(line(i))
  }
  // Each line is 34 or 35 characters: three make a batch of at least 100.
  t.same(sink.writes, [written.slice(0, 3).join(''), written.slice(3, 6).join('')])
  logs.close()
  t.same(sink.writes.join(''), written.join(''), 'close writes the rest; nothing lost or reordered')
  t.equal(sink.flushes, 1, 'close flushes the sink synchronously')
  t.equal(clock.pendingTimers(), 0, 'close leaves no timer behind')
})

t.test('a line waits at most flushMs for its batch', async (t) => {
  const sink = recordingSink()
  const clock = new FakeClock()
  const logs = batchLines(sink, { bytes: 4096, flushMs: 1000, clock })
  logs.stream.write(line(1))
  t.equal(clock.pendingTimers(), 1, 'the first line arms the timer')
  clock.advance(400)
  logs.stream.write(line(2))
  t.equal(clock.pendingTimers(), 1, 'one timer at a time')
  clock.advance(599)
  t.same(sink.writes, [], 'not before flushMs')
  clock.advance(1)
  t.same(sink.writes, [line(1) + line(2)], 'flushMs after the first line, with the lines since')
  t.equal(clock.pendingTimers(), 0, 'no timer while nothing is pending')
  clock.advance(5000)
  t.same(sink.writes.length, 1, 'an idle batcher writes nothing')
  logs.stream.write(line(3))
  clock.advance(1000)
  t.same(sink.writes, [line(1) + line(2), line(3)], 'the next line arms a new timer')
})

t.test('a batch flushed by size leaves the timer, which flushes what came after it', async (t) => {
  const sink = recordingSink()
  const clock = new FakeClock()
  const logs = batchLines(sink, { bytes: 60, flushMs: 1000, clock })
  logs.stream.write(line(1))
  clock.advance(300)
  logs.stream.write(line(2))
  t.same(sink.writes, [line(1) + line(2)], 'flushed by size')
  clock.advance(300)
  logs.stream.write(line(3))
  clock.advance(400)
  t.same(sink.writes, [line(1) + line(2), line(3)], 'written 1000 ms after the timer was armed, 400 ms after it was logged')
  clock.advance(5000)
  t.equal(sink.writes.length, 2, 'the timer fired once')
})

t.test('a line longer than a batch is handed on at once, alone', async (t) => {
  const sink = recordingSink()
  const logs = batchLines(sink, { bytes: 64, flushMs: 1000, clock: new FakeClock() })
  const long = `${'x'.repeat(200)}\n`
  logs.stream.write(long)
  t.same(sink.writes, [long])
})

t.test('close with nothing pending only flushes the sink', async (t) => {
  const sink = recordingSink()
  const logs = batchLines(sink, { bytes: 64, flushMs: 1000, clock: new FakeClock() })
  logs.close()
  t.same(sink.writes, [])
  t.equal(sink.flushes, 1)
})
