// The emulated BRTC Endpoints API (Bandwidth, production base URL https://api.bandwidth.com/v2),
// served by the upstream emulator next to its token endpoints, under a configurable base path
// (default `/v2`, so that BRTC_API_URL = <emulator url>/v2):
//   POST   /accounts/{accountId}/endpoints                 create -> 201 {links, data, errors}
//   GET    /accounts/{accountId}/endpoints?type=&status=&limit=&afterCursor=
//                                                          list   -> 200 {links, page, data, errors}
//   GET    /accounts/{accountId}/endpoints/{endpointId}    get    -> 200 {links, data, errors}
//   DELETE /accounts/{accountId}/endpoints/{endpointId}    delete -> 204
// Authorization: `Bearer <token>` where the token is one the emulated `bandwidth` token endpoint
// issued and that has not expired (the provider also takes Basic; the service must not use it,
// so it is refused here). Answers follow the provider's OpenAPI description (bandwidth.yml of
// Bandwidth/node-sdk); refusals are brtcErrorResponse bodies (brtc-errors.ts). Requests are
// logged without any token, and a fault programmed on the 'brtc' target replaces the answer.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { BrtcFailure, brtcFaultStyle, defaultProblem, problem, sendFailure, unauthorized } from './brtc-errors.js'
import { createBrtcStore } from './brtc-store.js'
import type { ListResult } from './brtc-store.js'
import type { BrtcEndpointRecord, BrtcEndpointStatus, BrtcLink, BrtcOptions, BrtcRequestLogEntry, BrtcStats } from './brtc-types.js'
import { checkCreateRequest, parseJsonObject, parseListQuery } from './brtc-validate.js'
import { playFault } from './faults.js'
import { sendJson } from './oauth.js'
import { BRTC_OPERATIONS } from './types.js'
import type { BrtcOperation, Fault } from './types.js'

export const DEFAULT_BRTC = { accountId: '9900000', basePath: '/v2', endpointLifetime: 86_400 } as const

/** What the emulator tells the API about a presented bearer token. */
export type BearerCheck = 'valid' | 'expired' | 'unknown'

export interface BrtcDeps {
  options: BrtcOptions | undefined
  logLimit: number
  /** Whether `token` is an access token the emulated `bandwidth` token endpoint issued, and still valid. */
  checkBearer (token: string): BearerCheck
  /** Keep a hanging response so that setFault/reset/close can end it. */
  onHang (res: ServerResponse): void
  /** The authorization scheme word of a header, never its credentials (as the token log records it). */
  authScheme (authorization: string | undefined): string | undefined
  /** The emulator's URL, for links when a request has no usable Host header. */
  fallbackOrigin (): string
}

export interface BrtcApi {
  readonly basePath: string
  /** Whether the path is under the base path (the API answers it, with a 404 if need be). */
  owns (path: string): boolean
  handle (req: IncomingMessage, res: ServerResponse, url: URL, raw: Buffer | undefined, size: number): void
  setFault (fault: Fault | null): void
  setEndpointLifetime (seconds: number): void
  setEndpointStatus (endpointId: string, status: BrtcEndpointStatus): void
  endpoints (accountId?: string): BrtcEndpointRecord[]
  requests (): BrtcRequestLogEntry[]
  stats (): BrtcStats
  reset (): void
}

interface Route { operation: BrtcOperation | undefined, accountId: string | undefined, endpointId: string | undefined, failure?: BrtcFailure }

const BASE_PATH = /^(\/[A-Za-z0-9._~-]+)*$/
const ACCOUNT_ID = /^[0-9]+$/
const BEARER = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i
const SAFE_QUERY = new Set(['type', 'status', 'limit', 'afterCursor'])
const HOST = /^[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$/

function finite (seconds: number, name: string): number {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds)) throw new TypeError(`${name} must be a finite number`)
  return seconds
}

/** Check the options once, at creation: a mistake there is a test bug, reported at once. */
function settle (options: BrtcOptions = {}): { accounts: Set<string>, basePath: string, lifetime: number, rejectUnknownFields: boolean } {
  const ids = options.accountId ?? DEFAULT_BRTC.accountId
  const accounts = new Set(typeof ids === 'string' ? [ids] : ids)
  for (const id of accounts) if (!ACCOUNT_ID.test(id)) throw new TypeError(`brtc.accountId must be decimal digits: ${id}`)
  const basePath = options.basePath ?? DEFAULT_BRTC.basePath
  if (!BASE_PATH.test(basePath) || basePath.startsWith('/__emulator')) {
    throw new TypeError('brtc.basePath must be "" or /segment[/segment...], outside /__emulator')
  }
  const lifetime = finite(options.endpointLifetime ?? DEFAULT_BRTC.endpointLifetime, 'brtc.endpointLifetime')
  return { accounts, basePath, lifetime, rejectUnknownFields: options.rejectUnknownFields ?? false }
}

/** The operation a method and path name, or the refusal (404, 405) to send once authenticated. */
function route (method: string, rest: string): Route {
  const match = /^\/accounts\/([^/]+)\/endpoints(?:\/([^/]+))?$/.exec(rest)
  if (match === null) {
    return { operation: undefined, accountId: undefined, endpointId: undefined, failure: new BrtcFailure(404, problem(404, 'The requested resource was not found.', { reference: rest })) }
  }
  const [, accountId, endpointId] = match
  const allowed: Record<string, BrtcOperation> = endpointId === undefined ? { GET: 'list', POST: 'create' } : { GET: 'get', DELETE: 'delete' }
  const operation = allowed[method]
  const failure = operation === undefined
    ? new BrtcFailure(405, defaultProblem(405), { Allow: Object.keys(allowed).join(', ') })
    : undefined
  return { operation, accountId, endpointId, ...(failure === undefined ? {} : { failure }) }
}

/** The public fields of an endpoint in the spec's order: `endpoints` (list items), `endpoint` (get), + token (create). */
function endpointData (r: BrtcEndpointRecord, shape: 'list' | 'get' | 'create'): Record<string, unknown> {
  return {
    endpointId: r.endpointId,
    ...(shape === 'create' ? { token: r.token } : {}),
    type: r.type,
    status: r.status,
    creationTimestamp: r.creationTimestamp,
    expirationTimestamp: r.expirationTimestamp,
    ...(shape === 'list' ? {} : { devices: r.devices.map((d) => ({ ...d })) }),
    ...(r.tag === undefined ? {} : { tag: r.tag })
  }
}

export function createBrtcApi (deps: BrtcDeps): BrtcApi {
  const settings = settle(deps.options)
  const { accounts, basePath } = settings
  const store = createBrtcStore()
  let fault: Fault | null = null
  let lifetime = settings.lifetime
  let log: BrtcRequestLogEntry[] = []
  let seq = 0
  let requests = 0
  let created = 0
  let operations = {} as Record<BrtcOperation, number>

  const originOf = (req: IncomingMessage): string => {
    const host = req.headers.host
    return host !== undefined && HOST.test(host) ? `http://${host}` : deps.fallbackOrigin()
  }

  function record (req: IncomingMessage, url: URL, r: Route, raw: Buffer | undefined, size: number): BrtcRequestLogEntry {
    let bodyFields: string[] | undefined
    try {
      const value: unknown = raw === undefined || raw.length === 0 ? undefined : JSON.parse(raw.toString('utf8'))
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) bodyFields = Object.keys(value)
    } catch {}
    const entry: BrtcRequestLogEntry = {
      seq: ++seq,
      at: new Date().toISOString(),
      operation: r.operation,
      method: req.method as string,
      path: url.pathname,
      accountId: r.accountId,
      endpointId: r.endpointId,
      query: [...url.searchParams].map(([name, value]): [string, string] => [name, SAFE_QUERY.has(name) ? value : '[redacted]']),
      headerNames: req.rawHeaders.filter((_, i) => i % 2 === 0).map((name) => name.toLowerCase()),
      contentType: req.headers['content-type'],
      authScheme: deps.authScheme(req.headers.authorization),
      bodyFields,
      bodyBytes: size,
      outcome: 0,
      error: undefined,
      fault: undefined
    }
    log.push(entry)
    if (log.length > deps.logLimit) log.shift()
    return entry
  }

  function authenticate (authorization: string | undefined): void {
    if (authorization === undefined) throw unauthorized('Authentication required: Authorization: Bearer <access token>.')
    const token = BEARER.exec(authorization)?.[1]
    if (token === undefined) throw unauthorized('Use a Bearer access token (OAuth 2.0 client credentials).')
    const check = deps.checkBearer(token)
    if (check === 'expired') throw unauthorized('The access token has expired.')
    if (check === 'unknown') throw unauthorized('The access token is not valid.')
  }

  function checkAccount (accountId: string): void {
    if (!ACCOUNT_ID.test(accountId)) {
      // The spec's own 400 example, word for word.
      throw new BrtcFailure(400, problem(400, 'accountId must not contain any characters other than numbers.', { parameter: 'accountId' }))
    }
    // The spec does not say what an account the credentials cannot use gets. Its 403 example
    // ("The provided credentials are not authorized to access this resource.") fits, and
    // Bandwidth's APIs answer 403 there; a 404 would tell a stranger which accounts exist.
    if (!accounts.has(accountId)) throw new BrtcFailure(403, problem(403, 'The provided credentials are not authorized to access this resource.', { parameter: 'accountId' }))
  }

  const notFound = (endpointId: string): BrtcFailure =>
    new BrtcFailure(404, problem(404, 'The requested resource was not found.', { reference: endpointId }))

  /** Run an authenticated, routed operation: the status and JSON body to answer (undefined: no body). */
  function operate (
    req: IncomingMessage, url: URL, operation: BrtcOperation, accountId: string, endpointId: string, raw: Buffer | undefined, entry: BrtcRequestLogEntry
  ): [number, unknown] {
    const accountPath = `${originOf(req)}${basePath}/accounts/${accountId}/endpoints`
    const link = (href: string, rel: string): BrtcLink => ({ href, rel, method: 'GET' })
    switch (operation) {
      case 'create': {
        const request = checkCreateRequest(parseJsonObject(raw, req.headers['content-type']), settings.rejectUnknownFields)
        const endpoint = store.create(accountId, request, lifetime)
        created++
        entry.endpointId = endpoint.endpointId
        return [201, { links: [link(`${accountPath}/${endpoint.endpointId}`, 'endpoint')], data: endpointData(endpoint, 'create'), errors: [] }]
      }
      case 'list': {
        const query = parseListQuery(url.searchParams)
        const page: ListResult = store.list(accountId, query)
        const links = [link(`${accountPath}${url.search}`, 'self')]
        if (page.nextCursor !== undefined) {
          const next = new URLSearchParams(url.searchParams)
          next.set('afterCursor', page.nextCursor)
          links.push(link(`${accountPath}?${next.toString()}`, 'next'))
        }
        return [200, {
          links,
          page: { pageSize: query.limit, totalElements: page.totalElements, totalPages: Math.ceil(page.totalElements / query.limit), pageNumber: page.pageNumber },
          data: page.items.map((e) => endpointData(e, 'list')),
          errors: []
        }]
      }
      case 'get': {
        const endpoint = store.get(accountId, endpointId)
        if (endpoint === undefined) throw notFound(endpointId)
        return [200, { links: [link(`${accountPath}/${endpoint.endpointId}`, 'self')], data: endpointData(endpoint, 'get'), errors: [] }]
      }
      case 'delete':
        if (!store.delete(accountId, endpointId)) throw notFound(endpointId)
        return [204, undefined]
    }
  }

  const api: BrtcApi = {
    basePath,
    owns: (path) => path === basePath || path.startsWith(`${basePath}/`),
    handle (req, res, url, raw, size) {
      const r = route(req.method as string, url.pathname.slice(basePath.length))
      requests++
      if (r.operation !== undefined) operations[r.operation]++
      const entry = record(req, url, r, raw, size)
      if (fault !== null && (fault.operation === undefined || fault.operation === r.operation)) {
        entry.fault = fault.kind
        entry.outcome = playFault(req, res, fault, brtcFaultStyle, deps.onHang)
        return
      }
      try {
        authenticate(req.headers.authorization)
        if (r.failure !== undefined) throw r.failure
        checkAccount(r.accountId as string)
        const [status, body] = operate(req, url, r.operation as BrtcOperation, r.accountId as string, r.endpointId ?? '', raw, entry)
        if (body === undefined) {
          res.writeHead(status, { 'Cache-Control': 'no-store' })
          res.end()
        } else {
          sendJson(res, status, body)
        }
        entry.outcome = status
      } catch (err) {
        /* c8 ignore next -- defensive: every refusal above is a BrtcFailure */
        if (!(err instanceof BrtcFailure)) throw err
        sendFailure(res, err)
        entry.outcome = err.status
        entry.error = err.problems[0]?.type
      }
    },
    setFault (value) {
      fault = value
    },
    setEndpointLifetime (seconds) {
      lifetime = finite(seconds, 'seconds')
    },
    setEndpointStatus: (endpointId, status) => store.setStatus(endpointId, status),
    endpoints: (accountId) => store.all(accountId).map((e) => structuredClone(e)),
    requests: () => log.map((e) => structuredClone(e)),
    stats: () => ({ requests, operations: { ...operations }, created, endpoints: store.size, fault, endpointLifetime: lifetime }),
    reset () {
      store.clear()
      fault = null
      lifetime = settings.lifetime
      log = []
      seq = 0
      requests = 0
      created = 0
      operations = Object.fromEntries(BRTC_OPERATIONS.map((o) => [o, 0])) as Record<BrtcOperation, number>
    }
  }
  api.reset()
  return api
}
