// `npm run demo` as a child process, for the tests that follow what it prints
// (test/scripts/demo.test.ts, test/browser/demo-page.test.ts): scripts/demo.ts through tsx on a
// free port, its output gathered, killed at teardown or after `killAfterMs` at the latest.
import { spawn, type ChildProcessByStdio } from 'node:child_process'
import type { Readable } from 'node:stream'
import type { Test } from 'tap'
import { childEnv } from './child-env.js'

export interface DemoProcess {
  child: ChildProcessByStdio<null, Readable, Readable>
  /** Everything printed so far on stdout and stderr. */
  stdout: () => string
  stderr: () => string
  /** Resolves with what `match` finds in stdout once it finds something; rejects if the demo exits first. */
  printed: <T>(match: (stdout: string) => T | undefined) => Promise<T>
}

export function spawnDemo (t: Test, args: string[] = [], killAfterMs = 30_000): DemoProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/demo.ts', '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: childEnv()
  })
  const killTimer = setTimeout(() => child.kill('SIGKILL'), killAfterMs)
  t.teardown(() => { clearTimeout(killTimer); if (child.exitCode === null) child.kill('SIGKILL') })
  let out = ''
  let err = ''
  child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { err += chunk.toString() })

  const printed = async <T>(match: (stdout: string) => T | undefined): Promise<T> => await new Promise<T>((resolve, reject) => {
    const check = (): boolean => {
      const found = match(out)
      if (found !== undefined) resolve(found)
      return found !== undefined
    }
    if (check()) return
    const onData = (): void => { if (check()) stop() }
    const onExit = (code: number | null): void => { stop(); reject(new Error(`demo exited early with ${String(code)}: ${err}`)) }
    const stop = (): void => { child.stdout.off('data', onData); child.off('exit', onExit) }
    child.stdout.on('data', onData)
    child.once('exit', onExit)
  })
  return { child, stdout: () => out, stderr: () => err, printed }
}
