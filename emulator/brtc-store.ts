// The emulated BRTC endpoints: created, read, listed a page at a time, deleted. Ids look like
// the provider's (`e-15ac29a2-1331029c-2cb0-4a07-b215-b22865662d85`), each endpoint carries a
// JWT-shaped token, and paging is by an opaque `afterCursor`, as the spec describes. Endpoints
// are never removed when they expire: the provider does not say it does (the service sweeps).
import { randomBytes } from 'node:crypto'
import { mintJwtShaped } from './oauth.js'
import { ENDPOINT_STATUSES } from './brtc-types.js'
import type { BrtcCreateRequest, BrtcEndpointRecord, BrtcEndpointStatus, BrtcEndpointType } from './brtc-types.js'

const hex = (bytes: number): string => randomBytes(bytes).toString('hex')

/** `<prefix>-` and hex groups of 8-8-4-4-4-12 digits, like the spec's example ids. */
export const providerId = (prefix: 'e' | 'd'): string => `${prefix}-${hex(4)}-${hex(4)}-${hex(2)}-${hex(2)}-${hex(2)}-${hex(6)}`

const CURSOR_PREFIX = 'brtc-emulator:after:'

/** An opaque cursor: standard base64 (with `+`, `/` and `=` when they fall so) of a sequence number. */
export const encodeCursor = (seq: number): string => Buffer.from(`${CURSOR_PREFIX}${seq}`, 'utf8').toString('base64')

/** The sequence number of a cursor this store made, or undefined. */
export function decodeCursor (cursor: string): number | undefined {
  const text = Buffer.from(cursor, 'base64').toString('utf8')
  const match = /^brtc-emulator:after:(\d{1,15})$/.exec(text)
  if (match === null || encodeCursor(Number(match[1])) !== cursor) return undefined
  return Number(match[1])
}

export interface ListQuery {
  type: BrtcEndpointType | undefined
  status: BrtcEndpointStatus | undefined
  limit: number
  /** Decoded afterCursor: list the endpoints created after this one. */
  after: number | undefined
}

export interface ListResult {
  items: BrtcEndpointRecord[]
  /** Matching endpoints on every page. */
  totalElements: number
  /** Zero-based, counted in pages of `limit` before this one. */
  pageNumber: number
  /** afterCursor of the next page; undefined on the last page. */
  nextCursor: string | undefined
}

export interface BrtcStore {
  create (accountId: string, request: BrtcCreateRequest, lifetimeSeconds: number): BrtcEndpointRecord
  get (accountId: string, endpointId: string): BrtcEndpointRecord | undefined
  delete (accountId: string, endpointId: string): boolean
  list (accountId: string, query: ListQuery): ListResult
  /** Stored endpoints, oldest first (the records themselves: callers copy). */
  all (accountId?: string): BrtcEndpointRecord[]
  setStatus (endpointId: string, status: BrtcEndpointStatus): void
  clear (): void
  readonly size: number
}

export function createBrtcStore (): BrtcStore {
  /** Insertion order is creation order; `seq` orders cursors even after deletions. */
  const endpoints = new Map<string, { seq: number, record: BrtcEndpointRecord }>()
  let seq = 0

  const find = (accountId: string, endpointId: string): BrtcEndpointRecord | undefined => {
    const found = endpoints.get(endpointId)?.record
    return found?.accountId === accountId ? found : undefined
  }

  return {
    create (accountId, request, lifetimeSeconds) {
      const now = Date.now()
      const endpointId = providerId('e')
      const iat = Math.floor(now / 1000)
      const token = mintJwtShaped({
        iss: 'https://api.bandwidth.com', sub: endpointId, accountId, iat, exp: iat + Math.round(lifetimeSeconds), emulated: true
      })
      const record: BrtcEndpointRecord = {
        ...request,
        accountId,
        endpointId,
        // No device is connected to an endpoint that has just been created.
        status: 'DISCONNECTED',
        creationTimestamp: new Date(now).toISOString(),
        expirationTimestamp: new Date(now + lifetimeSeconds * 1000).toISOString(),
        devices: [],
        token
      }
      endpoints.set(endpointId, { seq: ++seq, record })
      return record
    },
    get: find,
    delete (accountId, endpointId) {
      return find(accountId, endpointId) !== undefined && endpoints.delete(endpointId)
    },
    list (accountId, { type, status, limit, after = 0 }) {
      const matching = [...endpoints.values()].filter(({ record: r }) =>
        r.accountId === accountId && (type === undefined || r.type === type) && (status === undefined || r.status === status))
      const rest = matching.filter((e) => e.seq > after)
      const page = rest.slice(0, limit)
      const last = page.at(-1)
      return {
        items: page.map((e) => e.record),
        totalElements: matching.length,
        pageNumber: Math.floor((matching.length - rest.length) / limit),
        nextCursor: rest.length > limit && last !== undefined ? encodeCursor(last.seq) : undefined
      }
    },
    all (accountId) {
      return [...endpoints.values()].map((e) => e.record).filter((r) => accountId === undefined || r.accountId === accountId)
    },
    setStatus (endpointId, status) {
      const record = endpoints.get(endpointId)?.record
      if (record === undefined) throw new TypeError(`No BRTC endpoint ${endpointId}`)
      if (!ENDPOINT_STATUSES.includes(status)) throw new TypeError(`status must be one of ${ENDPOINT_STATUSES.join(', ')}`)
      record.status = status
      if (status === 'CONNECTED') {
        record.devices.push({ deviceId: providerId('d'), status, creationTimestamp: new Date().toISOString() })
      } else {
        for (const device of record.devices) device.status = status
      }
    },
    clear () {
      endpoints.clear()
      seq = 0
    },
    get size () {
      return endpoints.size
    }
  }
}
