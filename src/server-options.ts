// Fastify server options derived from the config: the logger (redaction, serializers that never
// write a credential or raw request bytes), proxy trust, request ids, timeouts, and the two
// hooks for requests refused before routing. Shared by src/server.ts and the test helper, so
// tests run the same logger and limits as production.
import { randomUUID } from 'node:crypto'
import { compile } from '@fastify/proxy-addr'
import { LogController } from 'fastify'
import pino from 'pino'
import type { FastifyError, FastifyHttpOptions, FastifyReply, FastifyRequest, RawServerDefault } from 'fastify'
import type { Socket } from 'node:net'
import type { Config, TrustProxy } from './config/types.js'
import { logSafeCode } from './lib/errors.js'
import { systemClock } from './lib/clock.js'
import { batchLines, type LogBatch } from './lib/log-batch.js'
import { listenerConstraint } from './lib/listener-constraint.js'

/**
 * Paths pino replaces with a placeholder, wherever a header or credential field gets logged.
 * Exact paths only, and few: one `*.` wildcard doubles what every log line costs. Held secrets
 * are `Secret`s (src/lib/secret.ts), which serialise as a placeholder at any depth; these paths
 * catch raw credential headers and raw values under the names a secret would have.
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

/**
 * The whole shutdown must end within this (close-with-grace exits 1 after it, see src/server.ts).
 * Receiving a request's head and body is bounded by it too, so no slow client can outlast it.
 */
export const SHUTDOWN_BUDGET_MS = 9000

/** Query parameters whose values may appear in logs; every other value is masked. */
const LOGGABLE_QUERY = new Set(['upstream'])

/**
 * The URL as logged: credentials are only accepted in headers, but a caller may still put
 * one in a query string by mistake. Mask every unknown query value.
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

/**
 * An error as logged: its class, log-safe code and stack frames. Never its message (a parser
 * error's may quote the request) nor any other property: Node's parser errors carry the raw
 * request bytes in `rawPacket`, credential headers included.
 */
export function serializeError (err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { type: typeof err }
  const code = logSafeCode(err)
  const frames = (err.stack ?? '').split('\n').filter((line) => /^\s+at /.test(line)).join('\n')
  return {
    type: /^[A-Za-z][A-Za-z0-9_]{0,39}$/.test(err.name) ? err.name : 'Error',
    ...(code !== err.name && { code }),
    ...(frames !== '' && { stack: frames })
  }
}

/**
 * Fastify's log lines minus its per-request pair ('incoming request', 'request completed'):
 * src/plugins/request-log.ts writes the one line instead. Its failure lines (a request that
 * errored after the reply, stream, writeHead and serializer failures) stay on.
 */
class OneRequestLine extends LogController {
  override incomingRequest (): void {}

  override requestCompleted (error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error != null) super.requestCompleted(error, request, reply)
  }
}

/** Lines are buffered up to this many characters, and written at most LOG_FLUSH_MS after they were logged. */
export const LOG_BUFFER_BYTES = 4096
export const LOG_FLUSH_MS = 1000

/**
 * stdout for production logs: lines are gathered in batches (src/lib/log-batch.ts) and each batch
 * is written synchronously by pino's destination: one write(2) each time LOG_BUFFER_BYTES have
 * gathered, instead of one per line on the request path; a line is written at most LOG_FLUSH_MS after it was logged, so
 * `docker logs` lags by at most a second. Synchronous on purpose: pino's asynchronous mode hands
 * each batch to libuv's thread pool and holds the lines meanwhile, which measured slower
 * (docs/performance.md). `close()` writes what is left: src/server.ts calls it on every exit, a
 * fatal error included. A SIGKILL loses what is buffered: at most LOG_BUFFER_BYTES, about a
 * dozen request lines.
 */
/* c8 ignore start -- it writes to the process's stdout: tested through src/server.ts in a child process (test/server.test.ts), which tap's coverage map leaves out; the batching is tested in test/lib/log-batch.test.ts */
export function stdoutLogDestination (): LogBatch {
  return batchLines(pino.destination({ dest: 1, sync: true }), { bytes: LOG_BUFFER_BYTES, flushMs: LOG_FLUSH_MS, clock: systemClock })
}
/* c8 ignore stop */

type ProxyTrust = (address: string, hop: number) => boolean

/**
 * TRUST_PROXY as one function of an address and its hop from the socket (0: the peer itself),
 * for Fastify's X-Forwarded-* handling and for the inbound X-Request-Id alike. An address list is
 * compiled as Fastify compiles one. A hop count keeps Express's meaning (the service sits behind
 * exactly that many proxies, so the peer and the hops before it are trusted): Fastify refuses to
 * compile hop counts itself, since it cannot check the peer, so like `true` it is only for a
 * service that clients cannot reach directly (docs/configuration.md says so).
 */
export function proxyTrust (trustProxy: Exclude<TrustProxy, false>): ProxyTrust {
  if (trustProxy === true) return () => true
  if (typeof trustProxy === 'number') return (_address, hop) => hop < trustProxy
  return compile(trustProxy)
}

/** `stream`: where log lines go (default stdout, one synchronous write per line). */
export function serverOptions (config: Config, stream?: pino.DestinationStream): FastifyHttpOptions<RawServerDefault> {
  const trust = config.trustProxy === false ? undefined : proxyTrust(config.trustProxy)
  return {
    logger: {
      level: config.logLevel,
      ...(stream !== undefined && { stream }),
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      serializers: {
        req (req: FastifyRequest) {
          return { method: req.method, url: loggableUrl(req.url), remoteAddress: req.ip }
        },
        // Fastify's type wants pino's default shape (with the message this one leaves out on purpose).
        err: serializeError as never
      }
    },
    trustProxy: trust ?? false,
    // An inbound request id is honoured only if well-formed and sent by a trusted proxy (the
    // socket's peer passes TRUST_PROXY), so genReqId reads the header itself instead of
    // Fastify's unchecked requestIdHeader.
    requestIdHeader: false,
    logController: new OneRequestLine(),
    genReqId (req) {
      const inbound = trust === undefined ? undefined : req.headers['x-request-id']
      return typeof inbound === 'string' && REQUEST_ID.test(inbound) && trust?.(req.socket.remoteAddress ?? '', 0) === true ? inbound : randomUUID()
    },
    // Token routes take no body and the endpoint routes a tiny one: a few KiB caps what a caller can make us buffer.
    bodyLimit: 4096,
    routerOptions: {
      // Long enough for the provider's endpoint ids (src/routes/endpoints.ts checks their pattern).
      maxParamLength: 128,
      // With METRICS_PORT, routes can be kept to one listener (no cost per request without it).
      ...(config.metricsPort !== undefined && { constraints: { listener: listenerConstraint } })
    },
    // Receiving a request (head and body) takes at most this; a slow or stalled client gets a 408,
    // within a second of it: Node looks for such requests every connectionsCheckingInterval.
    requestTimeout: SHUTDOWN_BUDGET_MS - 1000,
    // requireHostHeader: Node would answer an HTTP/1.1 request without Host itself, with a bare
    // 400; instead it reaches the app, whose error handler refuses it in the contract's shape
    // before authentication (src/plugins/error-handler.ts).
    http: { connectionsCheckingInterval: 1000, requireHostHeader: false },
    // A connection idle mid-request (waiting on the provider or the JWKS) outlives the longest wait.
    connectionTimeout: config.upstreamTimeoutMs + 15_000,
    // Longer than the 60 s idle timeout of common load balancers, so they close first.
    keepAliveTimeout: 72_000,
    // No per-socket request cap: Node would answer 503 to every request after it on a connection
    // whose client ignores `Connection: close` (load generators, some pooled clients).
    maxRequestsPerSocket: 0,
    // While closing, requests still get the service's own replies (a 503 in the contract's shape).
    return503OnClosing: false,
    // Both answer through the error-handler plugin's decorators (src/plugins/error-handler.ts):
    // these options are for an instance the app is registered on. The plugin also answers an
    // unsupported `Expect` and CONNECT on the server, which no option here reaches.
    frameworkErrors (err: FastifyError, request: FastifyRequest, reply: FastifyReply) {
      request.server.replyMalformed(err, request, reply)
    },
    clientErrorHandler (this: { replyClientError: (err: NodeJS.ErrnoException, socket: Socket) => void }, err: NodeJS.ErrnoException, socket: Socket) {
      this.replyClientError(err, socket)
    },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } }
  }
}
