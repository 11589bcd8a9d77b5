// Shutdown that never waits on a connection doing nothing. `fastify.close()` (SIGTERM) runs the
// preClose hooks, then closes the listener and waits for every open connection to end. Node
// closes idle keep-alive connections itself, but not one that never sent a byte (a load
// balancer's pre-connect) nor one that sent half a request: each would hold the process until
// its socket timeout. So this plugin tracks connections and the requests each is serving, and
// from preClose on (draining) ends every connection that serves no request: at once, then on a
// short interval while draining, which also ends each connection once its last response is
// sent (a request that starts while draining is answered with `Connection: close`). /readyz
// answers 503 while draining; requests in flight finish (their token waits are aborted by the
// tokens plugin's own preClose, so they get their 503 at once).
import fp from 'fastify-plugin'
import type { Server } from 'node:http'
import type { Socket } from 'node:net'

/** How often connections are swept while draining (a connection opened meanwhile, a request now done). */
const SWEEP_MS = 100

/** On each connection: how many requests it is serving now. A property, not a Map: it runs twice per request. */
const kServing = Symbol('serving')
type TrackedSocket = Socket & { [kServing]?: number }

declare module 'fastify' {
  interface FastifyInstance {
    lifecycle: {
      readonly draining: boolean
      /** Starts draining (preClose does, on close()): /readyz 503, idle connections ended. Idempotent. */
      drain: () => void
      /** Tracks the connections of another server this app answers (the METRICS_PORT listener) too. */
      track: (server: Server) => void
    }
  }
}

export default fp(async function lifecycle (fastify) {
  const state = { draining: false, drain, track }
  fastify.decorate('lifecycle', state)
  /** Open connections. */
  const connections = new Set<TrackedSocket>()

  function track (server: Server): void {
    server.on('connection', (socket: TrackedSocket) => {
      socket[kServing] = 0
      connections.add(socket)
      socket.once('close', () => { connections.delete(socket) })
    })
  }
  track(fastify.server)
  fastify.addHook('onRequest', function trackRequest (request, reply, done) {
    const socket: TrackedSocket = request.raw.socket
    if (socket[kServing] !== undefined) socket[kServing]++
    if (state.draining) reply.header('connection', 'close')
    done()
  })
  fastify.addHook('onResponse', function untrackRequest (request, _reply, done) {
    const socket: TrackedSocket = request.raw.socket
    if (socket[kServing] !== undefined) socket[kServing]--
    done()
  })

  function sweep (): void {
    for (const socket of connections) if (socket[kServing] === 0) socket.destroy()
  }

  let sweeper: NodeJS.Timeout | undefined
  function drain (): void {
    if (state.draining) return
    state.draining = true
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
