// The one polling helper, for states a test can only observe by asking again: a reconnect, a
// request reaching the emulator over a real socket, a sweep landing in Redis, a timer of another
// process. Asks every 10 ms until check() holds. The deadline only bounds a hang (only a broken
// test or machine reaches it); how soon the state arrives is never asserted.
import { setTimeout as sleep } from 'node:timers/promises'

const EVENTUALLY_DEADLINE_MS = 20_000

/**
 * Resolves once check() holds; rejects, naming `what`, if it still does not after deadlineMs of
 * real time (on performance.now(), which tests that stop or shift Date.now() leave alone).
 */
export async function eventually (check: () => boolean | Promise<boolean>, what: string, deadlineMs = EVENTUALLY_DEADLINE_MS): Promise<void> {
  const deadline = performance.now() + deadlineMs
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`still waiting after ${deadlineMs} ms for: ${what}`)
    await sleep(10)
  }
}
