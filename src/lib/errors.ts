// The service's errors, each with a stable machine code and the HTTP status the contract
// gives it. The one error handler (src/plugins/error-handler.ts) maps these to replies;
// messages here are safe to show callers and never carry a secret or an upstream body.

export type ErrorCode =
  | 'BAD_REQUEST'
  | 'UNKNOWN_UPSTREAM'
  | 'UNAUTHORIZED'
  | 'RATE_LIMITED'
  | 'UPSTREAM_CREDENTIALS_REJECTED'
  | 'UPSTREAM_UNAVAILABLE'
  | 'NOT_FOUND'
  | 'INTERNAL'

export class AppError extends Error {
  readonly statusCode: number
  readonly code: ErrorCode
  /** Seconds for a `Retry-After` header, when the status calls for one. */
  readonly retryAfterSeconds: number | undefined

  constructor (statusCode: number, code: ErrorCode, message: string, retryAfterSeconds?: number) {
    // No stack trace: these are expected outcomes (a refused caller, an upstream outage), whose
    // stack is never logged nor sent, and capturing one cost more than the rest of a 401 reply
    // (`npm run bench -- --profile bad-key`). Unexpected errors keep theirs.
    const stackTraceLimit = Error.stackTraceLimit
    Error.stackTraceLimit = 0
    super(message)
    Error.stackTraceLimit = stackTraceLimit
    this.name = new.target.name
    this.statusCode = statusCode
    this.code = code
    this.retryAfterSeconds = retryAfterSeconds
  }
}

/** 400: an `upstream` query value that is unknown or not enabled. */
export class UnknownUpstreamError extends AppError {
  constructor (enabled: readonly string[]) {
    super(400, 'UNKNOWN_UPSTREAM', `Unknown or disabled upstream; enabled upstreams: ${enabled.join(', ')}`)
  }
}

/** 401: missing, malformed, unknown or expired caller credentials. */
export class UnauthorizedError extends AppError {
  constructor (message = 'Missing or invalid credentials') {
    super(401, 'UNAUTHORIZED', message)
  }
}

/** Class of an upstream failure, as shown in /readyz and logs. Never carries a body. */
export type UpstreamErrorClass =
  | 'timeout'
  | 'network'
  | 'throttled'
  | 'server_error'
  | 'bad_response'
  | 'client_error'
  | 'credentials_rejected'

/** 503: no servable token, and the provider is unreachable, slow, throttling or failing. */
export class UpstreamUnavailableError extends AppError {
  readonly upstream: string
  readonly errorClass: UpstreamErrorClass

  constructor (upstream: string, errorClass: UpstreamErrorClass, retryAfterSeconds: number) {
    super(503, 'UPSTREAM_UNAVAILABLE', `Upstream ${upstream} is unavailable; retry later`, Math.max(1, Math.ceil(retryAfterSeconds)))
    this.upstream = upstream
    this.errorClass = errorClass
  }
}

/** 502: the provider rejected this service's own client credentials (a misconfiguration). */
export class UpstreamCredentialsError extends AppError {
  readonly upstream: string
  readonly errorClass: UpstreamErrorClass = 'credentials_rejected'

  constructor (upstream: string) {
    super(502, 'UPSTREAM_CREDENTIALS_REJECTED', `Upstream ${upstream} rejected this service's client credentials`)
    this.upstream = upstream
  }
}
