// The one error handler: every failure becomes `{ statusCode, code, error, message }` with a
// stable code. 5xx details are hidden and only the class of failure is logged, so no upstream
// body, secret or token can reach a caller or a log line through an error. A request refused
// before routing is answered here too, with the same shape, headers, log line and metric: a bad
// percent-encoding (Fastify's `frameworkErrors`); an HTTP/1.1 request without a Host header (an onRequest
// hook, before authentication); and, on the raw connection, what Node's HTTP layer would
// otherwise answer itself with a bare reply or a silent close: a request its parser refuses
// (`clientError`), an `Expect` other than 100-continue (`checkExpectation`) and CONNECT
// (`connect`). No reply echoes the request.
import fp from 'fastify-plugin'
import { randomUUID } from 'node:crypto'
import { STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { AppError, logSafeCode, type ErrorCode } from '../lib/errors.js'
import { noop } from '../lib/values.js'

export interface ErrorBody {
  statusCode: number
  code: ErrorCode
  error: string
  message: string
}

const CLIENT_CODES: Record<number, ErrorCode> = {
  401: 'UNAUTHORIZED',
  404: 'NOT_FOUND',
  429: 'RATE_LIMITED'
}

export function errorBody (statusCode: number, code: ErrorCode, message: string): ErrorBody {
  return { statusCode, code, error: STATUS_CODES[statusCode] ?? 'Error', message }
}

export function toErrorBody (err: FastifyError | AppError): ErrorBody {
  if (err instanceof AppError) return errorBody(err.statusCode, err.code, err.message)
  const status = err.statusCode ?? 500
  if (status >= 400 && status < 500) {
    // Validation messages name the field that failed, never its value; other framework 4xx
    // messages may quote the request (a URL, a header), so they are replaced.
    const message = err.validation !== undefined ? err.message : (STATUS_CODES[status] ?? 'Bad Request')
    return errorBody(status, CLIENT_CODES[status] ?? 'BAD_REQUEST', message)
  }
  return errorBody(500, 'INTERNAL', 'Internal Server Error')
}

/** A request refused before Fastify routes it: its status, a reason for logs and metrics, and a message. */
interface Refusal { status: number, reason: string, message: string }

/** What Node's parser refused. */
function clientErrorReply (err: NodeJS.ErrnoException): Refusal {
  if (err.code === 'HPE_HEADER_OVERFLOW') return { status: 431, reason: 'header_overflow', message: 'Request header fields too large' }
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return { status: 408, reason: 'timeout', message: 'Request timeout' }
  return { status: 400, reason: 'bad_request', message: 'Malformed request' }
}

/** An `Expect` other than 100-continue (HTTP/1.1 only: Node ignores `Expect` in HTTP/1.0). */
const EXPECTATION_FAILED: Refusal = { status: 417, reason: 'expectation_failed', message: 'Only the 100-continue expectation is supported' }

/**
 * CONNECT asks for a tunnel, which only a proxy opens. 405, not 501: the method is known and
 * refused, and the service's 5xx mean its own failures. `Allow` is empty (RFC 9110 §10.2.1):
 * no method applies to a CONNECT target (a host and port).
 */
const CONNECT_REFUSED: Refusal = { status: 405, reason: 'connect', message: 'CONNECT is not supported: this service is not a proxy' }

/** An HTTP/1.1 request without a Host header. */
const MISSING_HOST: Refusal = { status: 400, reason: 'missing_host', message: 'Missing Host header' }

declare module 'fastify' {
  interface FastifyInstance {
    /** Answers a request Fastify refused before routing (its `frameworkErrors` option). */
    replyMalformed: (err: FastifyError, request: FastifyRequest, reply: FastifyReply) => void
    /** Answers, on the raw socket, a request Node's HTTP parser refused (the server's `clientError`). */
    replyClientError: (err: NodeJS.ErrnoException, socket: Socket) => void
    /**
     * Makes `server` answer, in the contract's shape, the requests Node would otherwise answer
     * itself: an unsupported `Expect` (417) and CONNECT (405). Its requests without a Host header
     * are refused by this plugin's onRequest hook once they reach the app, which needs the server
     * created with `requireHostHeader: false`.
     */
    refuseUnsupported: (server: Server) => void
  }
}

export default fp(async function errorHandler (fastify) {
  fastify.setErrorHandler(function (err: FastifyError, request: FastifyRequest, reply: FastifyReply) {
    const out = toErrorBody(err)
    if (out.statusCode >= 500) {
      if (err instanceof AppError) {
        // Debug only: the token manager and the endpoint service log each outage once per state
        // change at warn, so a line per failed request would only flood the log during an outage.
        request.log.debug({ code: out.code, upstream: err.upstream, errorClass: err.errorClass }, 'request failed')
      } else {
        // Unexpected: its class and stack frames, never its message, which may quote request data.
        request.log.error({ code: out.code, err }, 'unhandled error')
      }
    }
    if (out.statusCode === 401) reply.header('www-authenticate', 'Bearer')
    if (err instanceof AppError) {
      if (err.retryAfterSeconds !== undefined) reply.header('retry-after', String(err.retryAfterSeconds))
      if (err.headers !== undefined) reply.headers(err.headers)
    }
    return reply.code(out.statusCode).send(out)
  })

  fastify.setNotFoundHandler(function (_request, reply) {
    return reply.code(404).send(errorBody(404, 'NOT_FOUND', 'Not Found'))
  })

  fastify.decorate('replyMalformed', function replyMalformed (err: FastifyError, request: FastifyRequest, reply: FastifyReply) {
    const status = err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 400
    fastify.metrics.malformedRequest(err.code === 'FST_ERR_BAD_URL' ? 'bad_url' : 'bad_request')
    reply.code(status).headers(fastify.replyHeaders(request.id)).header('cache-control', 'no-store')
      .send(errorBody(status, 'BAD_REQUEST', 'Malformed request URL'))
    fastify.logRequest(request, reply, { code: logSafeCode(err) })
  })

  /**
   * Counts a refusal answered outside Fastify and writes its one log line (never the request
   * nor an error object, whose `rawPacket` would hold the request's bytes); returns the reply's
   * headers, with a fresh request id, and its body.
   */
  function refused ({ status, reason, message }: Refusal, log: Record<string, unknown>, msg: string): { headers: Record<string, string>, body: string } {
    const id = randomUUID()
    fastify.metrics.malformedRequest(reason)
    fastify.log.info({ reqId: id, status, ...log }, msg)
    const body = JSON.stringify(errorBody(status, 'BAD_REQUEST', message))
    const headers = { ...fastify.replyHeaders(id), 'cache-control': 'no-store', 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(body)), connection: 'close' }
    return { headers, body }
  }

  /** Writes a reply as raw bytes on a connection no ServerResponse serves, and closes it. */
  function writeRaw (socket: Duplex, status: number, { headers, body }: { headers: Record<string, string>, body: string }): void {
    if (!socket.writable) {
      socket.destroy()
      return
    }
    const head = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('')
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Bad Request'}\r\n${head}\r\n${body}`, () => { socket.destroy() })
  }

  fastify.decorate('replyClientError', function replyClientError (err: NodeJS.ErrnoException, socket: Socket) {
    // A reset connection has nothing left to answer.
    if (err.code === 'ECONNRESET' || socket.destroyed) return
    const refusal = clientErrorReply(err)
    writeRaw(socket, refusal.status, refused(refusal, { code: logSafeCode(err), remoteAddress: socket.remoteAddress }, 'request refused by the HTTP parser'))
  })

  fastify.decorate('refuseUnsupported', function refuseUnsupported (server: Server) {
    // Node answers 417 itself, bare, when the server has no listener for this.
    server.on('checkExpectation', function expectationFailed (req: IncomingMessage, res: ServerResponse) {
      const { headers, body } = refused(EXPECTATION_FAILED, { method: req.method, code: 'EXPECTATION_FAILED', remoteAddress: req.socket.remoteAddress }, 'request refused before routing')
      res.writeHead(EXPECTATION_FAILED.status, headers).end(body)
    })
    // Node closes the connection without a word when the server has no listener for this. The
    // connection is the listener's now: Node no longer reads it nor handles its errors.
    server.on('connect', function connectRefused (req: IncomingMessage, socket: Duplex) {
      // A reset while answering leaves nothing to do.
      socket.on('error', noop)
      // Bytes a client sends ahead (its tunnel's first bytes) are read and dropped: unread, they
      // would make the close a reset, which can cost the client the reply.
      socket.resume()
      const reply = refused(CONNECT_REFUSED, { method: 'CONNECT', code: 'CONNECT_REFUSED', remoteAddress: req.socket.remoteAddress }, 'request refused before routing')
      // After the replies to requests sent ahead of it on the connection, in their order.
      fastify.lifecycle.whenIdle(req.socket, () => {
        writeRaw(socket, CONNECT_REFUSED.status, { ...reply, headers: { ...reply.headers, allow: '' } })
      })
    })
  })
  fastify.refuseUnsupported(fastify.server)

  // Before authentication and every route's work: the root's onRequest hooks run before a route's
  // own, and this plugin is registered before the routes (src/app.ts). Only the lifecycle's and
  // the security headers' hooks (and CORS's, with CORS_ORIGINS) run before it.
  fastify.addHook('onRequest', function requireHost (request, reply, done) {
    // RFC 9112 requires Host of HTTP/1.1 only, as Node does: an HTTP/1.0 health check without one
    // (HAProxy's `option httpchk`) is served.
    if (request.headers.host !== undefined || request.raw.httpVersion === '1.0') {
      done()
      return
    }
    fastify.metrics.malformedRequest(MISSING_HOST.reason)
    reply.code(MISSING_HOST.status).header('cache-control', 'no-store').header('connection', 'close')
      .send(errorBody(MISSING_HOST.status, 'BAD_REQUEST', MISSING_HOST.message))
  })
}, { name: 'error-handler', fastify: '5.x', dependencies: ['lifecycle', 'security', 'metrics', 'request-log'] })
