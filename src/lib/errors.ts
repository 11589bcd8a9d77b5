// The service's errors, each with a stable machine code and the HTTP status the contract gives
// it. The one error handler (src/plugins/error-handler.ts) turns them into replies; messages
// here are safe to show callers and never carry a secret or an upstream body.
//
// They carry no stack trace: they are expected outcomes (a refused caller, an outage) whose stack
// is never logged nor sent, and capturing one costs more than the rest of a 401 reply. `appError`
// builds the object on AppError's prototype without running Error's constructor, which is where
// V8 captures the stack; `instanceof AppError` and `instanceof Error` still hold. Unexpected
// errors keep their stacks.

export type ErrorCode =
  | 'BAD_REQUEST'
  | 'UNKNOWN_UPSTREAM'
  | 'UNAUTHORIZED'
  | 'RATE_LIMITED'
  | 'UPSTREAM_CREDENTIALS_REJECTED'
  | 'UPSTREAM_UNAVAILABLE'
  | 'ENDPOINT_LIMIT'
  | 'NOT_FOUND'
  | 'INTERNAL'

/** Class of an upstream failure, as shown in /readyz, metrics and logs. Never carries a body. */
export type UpstreamErrorClass =
  | 'timeout'
  | 'network'
  | 'throttled'
  | 'server_error'
  | 'bad_response'
  | 'client_error'
  | 'credentials_rejected'

export class AppError extends Error {
  declare readonly statusCode: number
  declare readonly code: ErrorCode
  /** Seconds for a `Retry-After` header, when the status calls for one. */
  declare readonly retryAfterSeconds: number | undefined
  /** The upstream an upstream failure concerns, for the debug log line. */
  declare readonly upstream: string | undefined
  declare readonly errorClass: UpstreamErrorClass | undefined
  /** Further reply headers that explain the refusal (the rate limit's). */
  declare readonly headers: Readonly<Record<string, string>> | undefined
}
AppError.prototype.name = 'AppError'

interface Extra {
  retryAfterSeconds?: number
  upstream?: string
  errorClass?: UpstreamErrorClass
  headers?: Record<string, string>
}

/** A stack-less AppError (see above). */
export function appError (statusCode: number, code: ErrorCode, message: string, extra: Extra = {}): AppError {
  const err = Object.create(AppError.prototype) as AppError
  return Object.assign(err, {
    statusCode,
    code,
    message,
    retryAfterSeconds: extra.retryAfterSeconds,
    upstream: extra.upstream,
    errorClass: extra.errorClass,
    headers: extra.headers
  })
}

/** Whole seconds for `Retry-After`: at least 1, at most 60 (the contract's ceiling); 1 for a wait that is not a number. */
export function retryAfterSeconds (ms: number): number {
  return Number.isNaN(ms) ? 1 : Math.min(60, Math.max(1, Math.ceil(ms / 1000)))
}

/** 400: an upstream (asked for, or the default) that is unknown or not handed out here. */
export function unknownUpstream (served: readonly string[]): AppError {
  return appError(400, 'UNKNOWN_UPSTREAM', served.length > 0
    ? `Unknown or disabled upstream; enabled upstreams: ${served.join(', ')}`
    : 'No upstream token is handed out here; per-user endpoint tokens come from POST /endpoints/webrtc')
}

/** 401: missing, malformed, unknown or expired caller credentials. */
export function unauthorized (): AppError {
  return appError(401, 'UNAUTHORIZED', 'Missing or invalid credentials')
}

/** 429: the caller's (or, for failed authentication, the address's) budget of `limit` per window is used up. */
export function rateLimited (retryAfterMs: number, limit: number): AppError {
  const seconds = retryAfterSeconds(retryAfterMs)
  return appError(429, 'RATE_LIMITED', 'Rate limit exceeded; retry later', {
    retryAfterSeconds: seconds,
    headers: { 'x-ratelimit-limit': String(limit), 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(seconds) }
  })
}

/** 503: no servable token, and the provider is unreachable, slow, throttling or failing. */
export function upstreamUnavailable (upstream: string, errorClass: UpstreamErrorClass, retryAfterMs: number): AppError {
  return appError(503, 'UPSTREAM_UNAVAILABLE', `Upstream ${upstream} is unavailable; retry later`, {
    retryAfterSeconds: retryAfterSeconds(retryAfterMs), upstream, errorClass
  })
}

/** 502: the provider rejected this service's own client credentials (a misconfiguration). */
export function upstreamCredentialsRejected (upstream: string): AppError {
  return appError(502, 'UPSTREAM_CREDENTIALS_REJECTED', `Upstream ${upstream} rejected this service's client credentials`, {
    upstream, errorClass: 'credentials_rejected'
  })
}

/**
 * A log-safe word for any error: its system code (`ECONNREFUSED`, `ETIMEDOUT`, also from
 * `cause`), else its class name. Never its message, which may quote a URL, a header or a body.
 */
export function logSafeCode (err: unknown): string {
  for (let e: unknown = err, depth = 0; e !== null && typeof e === 'object' && depth < 3; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string' && /^[A-Z][A-Z0-9_]{0,39}$/.test(code)) return code
  }
  if (err instanceof Error) return /^[A-Za-z][A-Za-z0-9_]{0,39}$/.test(err.name) ? err.name : 'Error'
  return typeof err
}
