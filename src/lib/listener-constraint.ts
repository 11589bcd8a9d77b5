// Which listener a request arrived on, as a route constraint (a find-my-way constraint strategy,
// given to Fastify's router as `routerOptions.constraints` when METRICS_PORT is set). The
// METRICS_PORT listener marks its connections; a request on a marked connection matches only
// routes constrained to it (`METRICS_LISTENER`), and a request on the API port never matches
// those. The router knows the strategy from its creation, so it applies to every route.
import type { FastifyServerOptions } from 'fastify'
import type { Socket } from 'node:net'

/** find-my-way's ConstraintStrategy, as Fastify's options name it. */
type Strategy = NonNullable<NonNullable<FastifyServerOptions['routerOptions']>['constraints']>[string]
type Stored = Parameters<ReturnType<Strategy['storage']>['set']>[1]

const kListener = Symbol('listener')
type MarkedSocket = Socket & { [kListener]?: 'metrics' }

/** The route option `constraints` of a route served on the METRICS_PORT listener alone. */
export const METRICS_LISTENER = Object.freeze({ listener: 'metrics' })

/** Marks a connection of the METRICS_PORT listener (its 'connection' listener). */
export function markMetricsConnection (socket: Socket): void {
  (socket as MarkedSocket)[kListener] = 'metrics'
}

export const listenerConstraint: Strategy = {
  name: 'listener',
  // A request on a marked connection matches no route without the constraint.
  mustMatchWhenDerived: true,
  storage () {
    const handlers = new Map<string, Stored>()
    return {
      get: (value) => handlers.get(value) ?? null,
      set: (value, handler) => { handlers.set(value, handler) }
    }
  },
  deriveConstraint (req) {
    // Undefined (not derived) on the API port; the type does not say find-my-way allows it.
    return (req.socket as MarkedSocket)[kListener] as string
  }
}
