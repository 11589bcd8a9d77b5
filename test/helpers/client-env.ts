// The browser clients' test seams (src/client/): a fake fetch that records every call and answers
// through a responder the test can swap, and the fake clock's two clocks and timers. Also the
// check that a client's source never touches the console, storage or cookies.
import { readFile } from 'node:fs/promises'
import type { Test } from 'tap'
import type { TimerHandle } from '../../src/lib/clock.js'
import { FakeClock } from './fake-clock.js'

export interface Call { url: string, init: RequestInit }
export type Responder = (call: Call, n: number) => Response | Promise<Response>

export interface FakeClientEnv {
  clock: FakeClock
  calls: Call[]
  setResponder: (fn: Responder) => void
  env: {
    fetch: (url: string, init: RequestInit) => Promise<Response>
    now: () => number
    monotonic: () => number
    setTimeout: (fn: () => void, ms: number) => unknown
    clearTimeout: (handle: unknown) => void
  }
}

/** Answers through `respond(clock)` until setResponder() swaps it; n counts calls from 1. */
export function fakeClientEnv (respond: (clock: FakeClock) => Responder): FakeClientEnv {
  const clock = new FakeClock()
  const calls: Call[] = []
  let responder = respond(clock)
  return {
    clock,
    calls,
    setResponder: (fn) => { responder = fn },
    env: {
      fetch: async (url, init) => {
        const call = { url, init }
        calls.push(call)
        return await responder(call, calls.length)
      },
      now: () => clock.wall(),
      monotonic: () => clock.monotonic(),
      setTimeout: (fn, ms) => clock.setTimer(fn, ms),
      clearTimeout: (handle) => { clock.clearTimer(handle as TimerHandle) }
    }
  }
}

/** Browser state a client must never touch: what a page's other scripts or extensions could read. */
const UNTOUCHABLE = ['console', 'localStorage', 'sessionStorage', 'indexedDB', 'cookie', 'caches']

/** Asserts that src/client/<file> names none of them outside its comments. */
export async function assertNoConsoleOrStorage (t: Test, file: string): Promise<void> {
  const source = await readFile(new URL(`../../src/client/${file}`, import.meta.url), 'utf8')
  const code = source.replace(/^\s*(\/\/|\*|\/\*\*).*$/gm, '')
  for (const word of UNTOUCHABLE) t.notMatch(code, new RegExp(`\\b${word}\\b`), `${file}: no ${word}`)
}
