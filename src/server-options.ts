// Fastify server options derived from the config: logger (with redaction), proxy trust,
// request ids and timeouts. Shared by src/server.ts and the test helper so tests run the
// same logger and limits as production. Also the one structured log line per request
// (`logRequest`, registered by the app), which replaces Fastify's two default lines.
import { randomUUID } from 'node:crypto'
import { LogController } from 'fastify'
import type { FastifyServerOptions, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import type { Config } from './config/types.js'
import { TOKEN_ROUTE, requestedUpstream } from './plugins/metrics.js'

/**
 * Paths pino replaces with a placeholder, wherever a header or credential field gets logged.
 * Exact paths only, and few: one `*.` wildcard doubles what every log line costs (pino then
 * walks every logged object) and each nested path adds to it, while the one line per request is
 * on the hot path (see bench/). Held secrets are `Secret`s (src/lib/secret.ts), which serialise
 * as a placeholder at any depth; these paths catch raw credential headers and raw values under
 * the names a secret would have, at the top level of a logged object.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers["x-api-key"]',
  'access_token',
  'accessToken',
  'client_secret',
  'clientSecret',
  'apiKey',
  'jwt'
]

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

/** Query parameters whose values may appear in logs; every other value is masked. */
const LOGGABLE_QUERY = new Set(['upstream'])

/**
 * The URL as logged: credentials are only accepted in headers, but a caller may still put
 * one in a query string by mistake, and the URL is logged. Mask every unknown query value.
 */
export function loggableUrl (url: string): string {
  const q = url.indexOf('?')
  if (q === -1) return url
  const params = new URLSearchParams(url.slice(q + 1))
  const out: string[] = []
  for (const [k, v] of params) {
    out.push(`${encodeURIComponent(k)}=${LOGGABLE_QUERY.has(k) ? encodeURIComponent(v) : '[redacted]'}`)
  }
  return `${url.slice(0, q)}?${out.join('&')}`
}

/** Routes that orchestrators and scrapers poll: their request lines log at debug, not info. */
const PROBE_ROUTES = new Set(['/healthz', '/readyz', '/metrics'])

/**
 * onResponse hook: the one log line per request. The route pattern, never the raw URL (a path
 * or query can carry anything a caller typed); the caller identity's name, never its credential;
 * the upstream bounded as for metrics. Probes go to the root logger at debug, so a route's
 * own `logLevel` (the probes keep theirs at warn) cannot hide them when debugging.
 * Synchronous (no promise per request): it runs on every request.
 */
export function logRequest (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
  const route = request.routeOptions.url
  const probe = route !== undefined && PROBE_ROUTES.has(route)
  const fields: Record<string, unknown> = {
    method: request.method,
    route,
    status: reply.statusCode,
    durationMs: Math.round(reply.elapsedTime * 100) / 100,
    remoteAddress: request.ip
  }
  if (request.caller != null) fields.caller = request.caller.name
  if (request.authFailure != null) fields.authFailure = request.authFailure
  if (route === TOKEN_ROUTE) fields.upstream = requestedUpstream(request)
  if (probe) request.server.log.debug({ reqId: request.id, ...fields }, 'request completed')
  else request.log.info(fields, 'request completed')
  done()
}

/**
 * Fastify's log lines minus its per-request pair ('incoming request', 'request completed'):
 * logRequest writes the one line instead. Its failure lines (a request that errored after the
 * reply, stream, writeHead and serializer failures) stay on.
 */
class OneRequestLine extends LogController {
  override incomingRequest (): void {}

  override requestCompleted (error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error != null) super.requestCompleted(error, request, reply)
  }
}

/**
 * Keep-alive connections are rotated after this many requests, so a proxy's connections spread
 * over replicas as they come and go. Node marks the last reply `Connection: close` and answers
 * 503 to anything sent after it on that socket; browsers and proxies reconnect instead.
 */
export const MAX_REQUESTS_PER_SOCKET = 1000

function trustHops (hops: number): (address: string, hop: number) => boolean {
  return (_address, hop) => hop < hops
}

export function serverOptions (config: Config): FastifyServerOptions {
  const trusted = config.trustProxy !== false
  return {
    logger: {
      level: config.logLevel,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      serializers: {
        req (req: FastifyRequest) {
          return {
            method: req.method,
            url: loggableUrl(req.url),
            remoteAddress: req.ip
          }
        }
      }
    },
    // A hop count becomes the function Fastify would compile it to (its types omit numbers).
    trustProxy: typeof config.trustProxy === 'number'
      ? trustHops(config.trustProxy)
      : config.trustProxy,
    // Inbound request ids are honoured only from a trusted proxy, and only if well-formed,
    // so genReqId reads the header itself instead of Fastify's unchecked requestIdHeader.
    requestIdHeader: false,
    // One line per request, written by logRequest, instead of Fastify's pair.
    logController: new OneRequestLine(),
    genReqId (req) {
      const inbound = trusted ? req.headers['x-request-id'] : undefined
      return typeof inbound === 'string' && REQUEST_ID.test(inbound) ? inbound : randomUUID()
    },
    // No route takes a body; a few KiB is plenty and caps what a caller can make us buffer.
    bodyLimit: 4096,
    // Longest legitimate request: one upstream attempt (UPSTREAM_TIMEOUT_MS) plus headroom.
    requestTimeout: config.upstreamTimeoutMs + 10_000,
    connectionTimeout: config.upstreamTimeoutMs + 15_000,
    keepAliveTimeout: 72_000,
    maxRequestsPerSocket: MAX_REQUESTS_PER_SOCKET,
    return503OnClosing: true,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } }
  }
}
