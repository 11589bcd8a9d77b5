// Fault injection for the upstream emulator: checking a fault description (it may come over
// HTTP from another process) and playing it on a response. The kinds model what a token
// endpoint, the BRTC API or the network in front of them does when things go wrong; a
// FaultStyle says how the target words a status fault (OAuth error or brtcErrorResponse) and
// which Retry-After it sends when the fault sets none.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { isRecord } from '../src/lib/values.js'
import { JSON_UTF8, sendJson } from './oauth.js'
import { BRTC_OPERATIONS } from './types.js'
import type { BrtcOperation, Fault, Outcome } from './types.js'

const KINDS = new Set(['status', 'hang', 'html', 'garbage', 'json', 'drop'])

const optionalString = (value: Record<string, unknown>, key: string): boolean =>
  value[key] === undefined || typeof value[key] === 'string'

/** Check a fault description; `null` clears. Throws TypeError naming what is wrong. */
export function parseFault (value: unknown): Fault | null {
  if (value === null) return null
  if (!isRecord(value) || typeof value.kind !== 'string' || !KINDS.has(value.kind)) {
    throw new TypeError(`fault.kind must be one of ${[...KINDS].join(', ')}`)
  }
  if (value.kind === 'status') {
    const { status } = value
    if (typeof status !== 'number' || !Number.isInteger(status) || status < 200 || status > 599) {
      throw new TypeError('fault.status must be an integer from 200 to 599')
    }
    if (value.retryAfter !== null && !optionalString(value, 'retryAfter')) throw new TypeError('fault.retryAfter must be a string or null')
    for (const key of ['body', 'contentType']) {
      if (!optionalString(value, key)) throw new TypeError(`fault.${key} must be a string`)
    }
  }
  if (value.kind === 'json' && value.body === undefined) throw new TypeError('fault.body is required')
  if (value.operation !== undefined && !BRTC_OPERATIONS.includes(value.operation as BrtcOperation)) {
    throw new TypeError(`fault.operation must be one of ${BRTC_OPERATIONS.join(', ')}`)
  }
  return value as Fault
}

/** How a target words a status fault that brings no body of its own. */
export interface FaultStyle {
  /** `WWW-Authenticate` value sent with a 401. */
  challenge: string
  /** JSON body of a status fault without `body` and `contentType`. */
  errorBody (status: number): unknown
  /** `Retry-After` sent with a status fault that leaves `retryAfter` out; undefined: none. */
  defaultRetryAfter? (status: number): string | undefined
}

/** The OAuth error a provider would send with this status (RFC 6749 5.2 names, plus 429). */
function defaultError (status: number): string {
  if (status === 400) return 'invalid_request'
  if (status === 401) return 'invalid_client'
  if (status === 429) return 'too_many_requests'
  if (status === 503) return 'temporarily_unavailable'
  return 'server_error'
}

const HTML_PAGE = '<!DOCTYPE html>\n<html><head><title>Service Unavailable</title></head>' +
  '<body><h1>Please sign in to continue</h1></body></html>\n'

/** A truncated JSON answer followed by bytes that are not even UTF-8. */
const GARBAGE = Buffer.concat([Buffer.from('{"access_token":"eyJhbGciOi'), Buffer.from([0xff, 0xfe, 0x00, 0x8f])])

/** A token endpoint's style: OAuth error JSON, Basic challenge. */
export const oauthFaultStyle = (realm: string): FaultStyle => ({
  challenge: `Basic realm="${realm}"`,
  errorBody: (status) => ({ error: defaultError(status), error_description: `Emulated ${status}` })
})

/**
 * A status fault: `retryAfter` as given (`null`: none), else the style's default. Every answer
 * carries the no-cache headers of the emulator's JSON replies (sendJson), custom bodies included.
 */
function sendStatus (res: ServerResponse, fault: Extract<Fault, { kind: 'status' }>, style: FaultStyle): void {
  const headers: Record<string, string> = {}
  const retryAfter = fault.retryAfter === undefined ? style.defaultRetryAfter?.(fault.status) : fault.retryAfter
  if (typeof retryAfter === 'string') headers['Retry-After'] = retryAfter
  if (fault.status === 401) headers['WWW-Authenticate'] = style.challenge
  if (fault.body === undefined && fault.contentType === undefined) {
    sendJson(res, fault.status, style.errorBody(fault.status), headers)
    return
  }
  const body = fault.body ?? ''
  res.writeHead(fault.status, {
    ...headers,
    'Content-Type': fault.contentType ?? JSON_UTF8,
    'Cache-Control': 'no-store',
    Pragma: 'no-cache',
    'Content-Length': Buffer.byteLength(body)
  })
  res.end(body)
}

/**
 * Play `fault` on this exchange and say what was done. A hanging response is handed to
 * `onHang` so that the emulator can destroy it on reset or close.
 */
export function playFault (req: IncomingMessage, res: ServerResponse, fault: Fault, style: FaultStyle, onHang: (res: ServerResponse) => void): Outcome {
  switch (fault.kind) {
    case 'status':
      sendStatus(res, fault, style)
      return fault.status
    case 'hang':
      onHang(res)
      return 'hang'
    case 'html':
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': Buffer.byteLength(HTML_PAGE) })
      res.end(HTML_PAGE)
      return 200
    case 'garbage':
      res.writeHead(200, { 'Content-Type': JSON_UTF8, 'Content-Length': GARBAGE.length })
      res.end(GARBAGE)
      return 200
    case 'json':
      sendJson(res, 200, fault.body)
      return 200
    case 'drop':
      req.socket.resetAndDestroy()
      return 'drop'
  }
}
