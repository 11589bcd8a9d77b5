// The Redis connection on its own: a server that hangs at startup does not hold startup longer
// than the cap, the state follows the connection, each change is logged once, and close() is
// idempotent and silent.
import t from 'tap'
import { Secret } from '../../src/lib/secret.js'
import { RedisConnection } from '../../src/redis/connection.js'
import type { Logger } from '../../src/token/types.js'
import { redisSkip, startRedisServer } from '../helpers/redis-server.js'

const skip = redisSkip()

function captureLogger (): Logger & { lines: string[] } {
  const lines: string[] = []
  const at = (level: string) => (obj: object, msg?: string): void => { lines.push(`${level} ${JSON.stringify(obj)} ${msg ?? ''}`) }
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
}

async function until (check: () => boolean, what: string): Promise<void> {
  for (let i = 0; !check(); i++) {
    if (i > 400) throw new Error(`timed out waiting for: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

t.test('a hung server at startup: startup waits only up to the cap, then the state follows', { skip }, async (t) => {
  const server = await startRedisServer(t)
  server.pause()
  const log = captureLogger()
  const connection = new RedisConnection(new Secret(server.url), {
    logger: log,
    timings: { startupWaitMs: 200, connectTimeoutMs: 300, socketTimeoutMs: 300, commandTimeoutMs: 200, maxReconnectDelayMs: 100 }
  })
  t.teardown(async () => { await connection.close() })
  await connection.settled()
  t.equal(connection.status, 'down', 'startup goes on without Redis')
  t.equal(connection.isUp(), false)
  t.equal(log.lines.filter((l) => l.startsWith('warn')).length, 1, 'the hang is logged once')
  t.match(log.lines[0], /redis unreachable/)
  t.match(log.lines[0], /"errorClass":"(timeout|ETIMEDOUT)"/)
  server.resume()
  await until(() => connection.isUp(), 'up after SIGCONT')
  t.equal(connection.status, 'up')
  t.equal(log.lines.filter((l) => l.startsWith('info')).length, 1, 'one line for the change')
  t.match(log.lines[1], /redis connection restored/)
})

t.test('close() is idempotent and logs nothing', { skip }, async (t) => {
  const server = await startRedisServer(t)
  const log = captureLogger()
  const connection = new RedisConnection(new Secret(server.url), { logger: log, timings: { startupWaitMs: 1000 } })
  await connection.settled()
  t.equal(connection.status, 'up')
  await new Promise((resolve) => setTimeout(resolve, 1100))
  t.equal(connection.status, 'up', 'the startup cap passing later changes nothing')
  t.equal(log.lines.length, 1)
  const before = log.lines.length
  await connection.close()
  await connection.close()
  await connection.settled()
  t.equal(connection.client.status, 'end')
  t.equal(log.lines.length, before, 'no "lost" line for our own close')
})
