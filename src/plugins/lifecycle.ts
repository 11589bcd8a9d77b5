// Shutdown that never waits on a connection doing nothing. `fastify.close()` (SIGTERM) runs the
// preClose hooks, then closes the listener and waits for every open connection to end. Node
// closes idle keep-alive connections itself, but not one that never sent a byte (a load
// balancer's pre-connect) nor one that sent half a request: each would hold the process until
// its socket timeout. So this plugin tracks connections and the requests each is serving, and
// from preClose on (draining) ends every connection that serves no request: at once, then on a
// short interval while draining, which also ends each connection once its last response is
// sent (a request that starts while draining is answered with `Connection: close`). A request
// still sending its body SLOW_BODY_MS after draining began gets a 408 and is closed. /readyz
// answers 503 while draining; requests in flight finish (their token waits are aborted by the
// tokens plugin's own preClose, so they get their 503 at once).
import fp from 'fastify-plugin'
import type { IncomingMessage, Server } from 'node:http'
import type { Socket } from 'node:net'

/** How often connections are swept while draining (a connection opened meanwhile, a request now done). */
const SWEEP_MS = 100

/**
 * How long after draining starts a request may still be sending its body. Node's own request
 * timeout stops being checked once the server closes, so a slow sender would otherwise hold the
 * process past the shutdown budget; past this it gets a 408 and its connection closes.
 */
export const SLOW_BODY_MS = 5000

/** On each connection: how many requests it is serving now, and the latest one. Properties, not a Map: they run on every request. */
const kServing = Symbol('serving')
const kRequest = Symbol('request')
const kServer = Symbol('server')
const kIdle = Symbol('idle')
type TrackedSocket = Socket & { [kServing]?: number, [kRequest]?: IncomingMessage, [kServer]?: Server, [kIdle]?: Array<() => void> }

declare module 'fastify' {
  interface FastifyInstance {
    lifecycle: {
      readonly draining: boolean
      /** Starts draining (preClose does, on close()): /readyz 503, idle connections ended. Idempotent. */
      drain: () => void
      /** Tracks the connections of another server this app answers (the METRICS_PORT listener) too. */
      track: (server: Server) => void
      /** Calls `fn` once the connection serves no request: at once, or when its last response is sent. */
      whenIdle: (socket: Socket, fn: () => void) => void
    }
  }
}

export default fp(async function lifecycle (fastify) {
  const state = { draining: false, drain, track, whenIdle }
  fastify.decorate('lifecycle', state)
  /** Open connections. */
  const connections = new Set<TrackedSocket>()

  function track (server: Server): void {
    server.on('connection', (socket: TrackedSocket) => {
      socket[kServing] = 0
      socket[kServer] = server
      connections.add(socket)
      socket.once('close', () => { connections.delete(socket) })
    })
  }
  function whenIdle (socket: TrackedSocket, fn: () => void): void {
    if ((socket[kServing] ?? 0) === 0) fn()
    else (socket[kIdle] ??= []).push(fn)
  }
  track(fastify.server)
  fastify.addHook('onRequest', function trackRequest (request, reply, done) {
    const socket: TrackedSocket = request.raw.socket
    if (socket[kServing] !== undefined) socket[kServing]++
    socket[kRequest] = request.raw
    if (state.draining) reply.header('connection', 'close')
    done()
  })
  fastify.addHook('onResponse', function untrackRequest (request, _reply, done) {
    const socket: TrackedSocket = request.raw.socket
    if (socket[kServing] !== undefined && --socket[kServing] === 0 && socket[kIdle] !== undefined) {
      const waiting = socket[kIdle]
      socket[kIdle] = undefined
      for (const fn of waiting) fn()
    }
    done()
  })

  let drainingSince = 0
  function sweep (): void {
    const slowBodiesEnd = performance.now() - drainingSince >= SLOW_BODY_MS
    for (const socket of connections) {
      if (socket[kServing] === 0) socket.destroy()
      else if (slowBodiesEnd && socket[kRequest]?.complete === false) {
        // What Node itself does when a request times out: the server's `clientError`, which the
        // service answers with its 408 in the contract's shape and then closes the connection.
        const timeout = Object.assign(new Error('Request timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' })
        if (socket[kServer]?.emit('clientError', timeout, socket) !== true) socket.destroy()
      }
    }
  }

  let sweeper: NodeJS.Timeout | undefined
  function drain (): void {
    if (state.draining) return
    state.draining = true
    drainingSince = performance.now()
    sweep()
    sweeper = setInterval(sweep, SWEEP_MS).unref()
  }
  fastify.addHook('preClose', async function startDraining () {
    drain()
  })
  fastify.addHook('onClose', async function stopSweeping () {
    clearInterval(sweeper)
  })
}, { name: 'lifecycle', fastify: '5.x' })
