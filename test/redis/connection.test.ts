// The Redis connection on its own (RedisConnection): a server that hangs at startup does not hold
// startup longer than the cap; the state follows the connection; each change is logged once,
// reconnect attempts are not; the error class logged is a code or class name (logSafeCode),
// never a message, address or password; close() is idempotent, silent, and leaves it down; after a
// crash with a command in flight it comes back up (ioredis may drop the new socket once more).
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Redis } from 'ioredis'
import { Secret } from '../../src/lib/secret.js'
import { RedisConnection, type RedisTimings } from '../../src/redis/connection.js'
import { captureLogger } from '../helpers/capture-logger.js'
import { eventually } from '../helpers/eventually.js'
import { redisSkip, startRedisServer } from '../helpers/redis-server.js'
import { freePort } from '../helpers/net.js'

const skip = redisSkip()

/** Quick reconnects; replies never timed out by CPU load. */
const QUICK: Partial<RedisTimings> = { connectTimeoutMs: 10_000, commandTimeoutMs: 10_000, socketTimeoutMs: 20_000, maxReconnectDelayMs: 100, startupWaitMs: 15_000 }

/** Resolves after `n` more reconnect attempts of `client`. */
async function reconnects (client: Redis, n: number): Promise<void> {
  await new Promise<void>((resolve) => {
    let seen = 0
    const on = (): void => {
      if (++seen < n) return
      client.off('reconnecting', on)
      resolve()
    }
    client.on('reconnecting', on)
  })
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
  t.equal(log.lines.length, 1, 'the hang is logged once')
  t.match(log.lines[0], { level: 'warn', obj: { redis: 'down', errorClass: /^(timeout|ETIMEDOUT|Error)$/ }, msg: /redis unreachable/ })
  server.resume()
  await eventually(() => connection.isUp(), 'up after SIGCONT')
  t.equal(connection.status, 'up')
  t.equal(log.lines.length, 2, 'one line for the change')
  t.match(log.lines[1], { level: 'info', obj: { redis: 'up' }, msg: /redis connection restored/ })
})

t.test('refused, then up, then lost and back: one line per change, classified by code, reconnects silent', { skip }, async (t) => {
  const port = await freePort()
  const log = captureLogger()
  const connection = new RedisConnection(new Secret(`redis://127.0.0.1:${port}`), { logger: log, timings: QUICK })
  t.teardown(async () => { await connection.close() })
  await connection.settled()
  t.equal(connection.status, 'down')
  t.equal(log.lines.length, 1)
  t.match(log.lines[0], { level: 'warn', obj: { redis: 'down', errorClass: 'ECONNREFUSED' }, msg: /redis unreachable/ })

  // Several reconnect attempts while nothing listens: still one line.
  await reconnects(connection.client, 3)
  t.equal(log.lines.length, 1, 'reconnect attempts are not logged')

  const server = await startRedisServer(t, { port })
  await eventually(() => connection.isUp(), 'up once a server listens')
  t.equal(log.lines.length, 2)
  t.match(log.lines[1], { level: 'info', obj: { redis: 'up' }, msg: /redis connection restored/ })
  t.equal(await connection.client.ping(), 'PONG', 'the client is usable')

  await server.kill()
  await eventually(() => !connection.isUp(), 'down after the crash')
  await reconnects(connection.client, 3)
  t.equal(log.lines.length, 3, 'the loss is logged once, however many attempts follow')
  t.match(log.lines[2], { level: 'warn', obj: { redis: 'down', errorClass: /^[A-Za-z][A-Za-z0-9_]*$/ }, msg: /redis connection lost/ })

  await server.restart()
  await eventually(() => connection.isUp(), 'up after the restart')
  t.equal(log.lines.length, 4)
  t.match(log.lines[3], { level: 'info', msg: /redis connection restored/ })
  const text = JSON.stringify(log.lines)
  t.notMatch(text, String(port), 'no address in any line')
  t.notMatch(text, '127.0.0.1')
})

t.test('a crash with a command in flight: after the reconnect, no second loss', { skip }, async (t) => {
  const server = await startRedisServer(t)
  const log = captureLogger()
  // Longer than the BLPOP can wait for the crash below on a busy machine (its timer starts when
  // it is sent); the test then waits it out.
  const socketTimeoutMs = 4000
  const connection = new RedisConnection(new Secret(server.url), { logger: log, timings: { ...QUICK, socketTimeoutMs } })
  t.teardown(async () => { await connection.close() })
  await connection.settled()
  // A command that gets no reply before the crash (any command in flight under load would do).
  const inFlight = connection.client.blpop('wts:test:nothing', 30).then(() => 'answered', (err: Error) => err.name)
  await eventually(async () => (await server.client().client('LIST') as string).includes('cmd=blpop'), 'BLPOP is waiting')
  await server.kill()
  t.not(await inFlight, 'answered', 'the command in flight failed')
  await server.restart()
  await eventually(() => connection.isUp(), 'up after the restart')
  t.equal(log.lines.length, 3, 'connected, lost, restored')
  // Past the dead command's socket timeout (real time: the timer is ioredis's own), the new
  // connection is still up: that leftover timer must not drop the connection that replaced it.
  await sleep(socketTimeoutMs + 500)
  t.ok(connection.isUp(), 'still up')
  t.equal(log.lines.length, 3, `no late drop (${log.lines.map((l) => l.msg).join(', ')})`)
})

t.test('a wrong password is logged as an error class, never the reply text or the password', { skip }, async (t) => {
  const password = 'redis-Pa55word-do-not-log'
  const server = await startRedisServer(t, { password })
  const log = captureLogger()
  const url = `redis://:${encodeURIComponent('wrong-' + password)}@127.0.0.1:${server.port}`
  // The refusal settles startup long before this cap, however busy the machine: its class is the reply's, not 'timeout'.
  const connection = new RedisConnection(new Secret(url), { logger: log, timings: { ...QUICK, startupWaitMs: 30_000 } })
  t.teardown(async () => { await connection.close() })
  await connection.settled()
  t.equal(connection.status, 'down')
  t.equal(log.lines.length, 1)
  const errorClass = log.lines[0]?.obj.errorClass
  t.equal(errorClass, 'ReplyError', 'the class of the error ioredis reports')
  t.notMatch(String(errorClass), /WRONGPASS|invalid|password/i, 'not the reply text')
  t.notMatch(JSON.stringify(log.lines), password)
})

t.test('close() is idempotent and logs nothing', { skip }, async (t) => {
  const server = await startRedisServer(t)
  const log = captureLogger()
  // A cap a local Redis comes up well within, even on a busy machine; the test then waits it out.
  const startupWaitMs = 4000
  const connection = new RedisConnection(new Secret(server.url), { logger: log, timings: { ...QUICK, startupWaitMs } })
  await connection.settled()
  t.equal(connection.status, 'up')
  // The startup cap was cleared when the connection came up: its moment passing changes nothing.
  await new Promise((resolve) => setTimeout(resolve, startupWaitMs + 100))
  t.equal(connection.status, 'up', 'the startup cap passing later changes nothing')
  t.equal(log.lines.length, 1)
  t.match(log.lines[0], { level: 'info', msg: /redis connected/ })
  await connection.close()
  await connection.close()
  await connection.settled()
  t.equal(connection.client.status, 'end')
  t.equal(log.lines.length, 1, 'no "lost" line for our own close')
})

t.test('after close() the connection no longer claims to be up', { skip }, async (t) => {
  const server = await startRedisServer(t)
  const connection = new RedisConnection(new Secret(server.url), { logger: captureLogger(), timings: QUICK })
  await connection.settled()
  t.equal(connection.isUp(), true)
  await connection.close()
  t.equal(connection.client.status, 'end')
  t.equal(connection.isUp(), false, 'a closed connection is not ready for commands')
  t.equal(connection.status, 'down', 'nor shown up (redis_up)')
})

t.test('closing while down stops the reconnect loop', { skip }, async (t) => {
  const port = await freePort()
  const log = captureLogger()
  const connection = new RedisConnection(new Secret(`redis://127.0.0.1:${port}`), { logger: log, timings: QUICK })
  await connection.settled()
  t.equal(connection.status, 'down')
  // A witness in the same reconnect loop, left running.
  const witness = new RedisConnection(new Secret(`redis://127.0.0.1:${port}`), { logger: captureLogger(), timings: QUICK })
  t.teardown(async () => { await witness.close() })
  await connection.close()
  const server = await startRedisServer(t, { port })
  await eventually(() => witness.isUp(), 'the witness connects')
  // A negative: give the closed one a few more reconnect intervals (100 ms) to misbehave.
  await sleep(300)
  t.equal(connection.isUp(), false, 'no reconnect after close')
  t.not(connection.client.status, 'ready')
  const clients = (await server.client().client('LIST') as string).trim().split('\n')
  t.equal(clients.length, 2, 'only the witness and the inspecting client are connected')
  t.equal(log.lines.length, 1, 'only the startup line')
})
