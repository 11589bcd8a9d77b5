// Per-user endpoint tokens, the domain side of the three routes: create an endpoint for a caller
// (within its cap), list the caller's live endpoints, delete one the caller owns. Plain
// TypeScript: src/plugins/brtc.ts builds it, src/routes/endpoints.ts calls it. Failures come out
// as the service's AppErrors, so the one error handler shapes the replies:
// - the provider's 429 → 503 with its Retry-After (at most 60 s);
// - its 401/403 → 502 UPSTREAM_CREDENTIALS_REJECTED, and one error log line (until the next
//   success) saying the credentials lack the BRTC role;
// - anything else failing (timeout, network, 5xx, an unreadable answer) → 503 with Retry-After;
//   an outage is logged at warn when it starts and at info when the provider answers again;
// - the account token's own failure (the token manager's 502/503) passes through as it is.
// A caller never learns whether an endpoint that is not theirs exists: both are the same 404.
// A create whose answer was lost (a timeout, a dropped connection, an unreadable 2xx) may have
// made an endpoint all the same: before the caller gets its 503, the caller's endpoints are
// listed, and one the cap does not hold yet takes the reserved slot, so the cap counts what the
// caller's list shows. A create that outlived its reservation while other creates filled the cap
// deletes its endpoint and answers 409, so a slow create never takes a slot twice.
import { systemClock, type Clock } from '../lib/clock.js'
import { appError, logSafeCode, upstreamCredentialsRejected, upstreamUnavailable, type AppError } from '../lib/errors.js'
import { silentLogger, type Logger } from '../lib/logger.js'
import { fingerprint, type Secret } from '../lib/secret.js'
import { BrtcApiError, eachPage, type BrtcApiClient } from './api-client.js'
import type { CapStore, Reservation } from './cap-store.js'
import { isServiceTag, tagMatches, type Owner, type OwnerKeys } from './owner-tag.js'

/** The name failures carry (messages, the debug log line). */
export const BRTC_UPSTREAM = 'brtc'
/** Retry-After of a failure that did not say how long to wait. */
export const DEFAULT_RETRY_MS = 1000
/** Pages a listing for a caller reads at most (100 000 endpoints at 1000 a page). */
export const MAX_LIST_PAGES = 100

/** A created endpoint as the caller gets it. */
export interface IssuedEndpoint {
  endpointId: string
  token: Secret
  /** Whole seconds until it expires, at least 1. */
  expiresIn: number
  /** ISO 8601 UTC. */
  expiresAt: string
  /** First 16 hex digits of the token's SHA-256: names it in the audit log without revealing it. */
  tokenSha256: string
}

export interface ListedEndpoint {
  endpointId: string
  expiresAt: string
  status: string
}

export interface EndpointServiceOptions {
  api: Pick<BrtcApiClient, 'create' | 'listPage' | 'get' | 'delete'>
  caps: CapStore
  keys: OwnerKeys
  /** BRTC_MAX_ENDPOINTS_PER_CALLER. */
  maxPerCaller: number
  /** BRTC_EVENT_CALLBACK_URL. */
  eventCallbackUrl?: URL | undefined
  clock?: Clock
  logger?: Logger
}

/** 404 for an endpoint that does not exist and for one that is someone else's: one status, one body. */
export const endpointNotFound = (): AppError => appError(404, 'NOT_FOUND', 'No such endpoint')

export class EndpointService {
  readonly maxPerCaller: number
  readonly #api: EndpointServiceOptions['api']
  readonly #caps: CapStore
  readonly #keys: OwnerKeys
  readonly #eventCallbackUrl: URL | undefined
  readonly #clock: Clock
  readonly #log: Logger
  /** The credentials-rejected line is written once until the provider accepts them again. */
  #rejectionLogged = false
  /** An outage (timeouts, 5xx, 429) is logged once when it starts and once when it ends. */
  #outage = false
  /** Creates in flight here, per owner tag: an endpoint one of them made may not be confirmed yet. */
  readonly #creating = new Map<string, number>()

  constructor (opts: EndpointServiceOptions) {
    this.maxPerCaller = opts.maxPerCaller
    this.#api = opts.api
    this.#caps = opts.caps
    this.#keys = opts.keys
    this.#eventCallbackUrl = opts.eventCallbackUrl
    this.#clock = opts.clock ?? systemClock
    this.#log = opts.logger ?? silentLogger
  }

  /** The caller's tags, from its identity (`Caller.identity`); compute once per request. */
  async owner (caller: { identity: string }): Promise<Owner> {
    return await this.#keys.owner(caller.identity)
  }

  /** A new endpoint for the owner; 409 ENDPOINT_LIMIT at the cap. */
  async create (owner: Owner): Promise<IssuedEndpoint> {
    const reservation = await this.#caps.reserve(owner.tags, this.maxPerCaller)
    if (reservation === undefined) throw this.#atCap()
    // Until confirmed, or reconciled after a lost answer.
    let settled = false
    this.#creating.set(owner.tag, (this.#creating.get(owner.tag) ?? 0) + 1)
    try {
      const endpoint = await this.#call(async () => {
        try {
          return await this.#api.create({ tag: owner.tag, eventCallbackUrl: this.#eventCallbackUrl })
        } catch (err) {
          if (mayHaveCreated(err)) {
            settled = true
            await this.#reconcile(owner, reservation)
          }
          throw err
        }
      })
      const expiresIn = Math.floor((endpoint.expiresAtMs - this.#clock.wall()) / 1000)
      if (expiresIn < 1) {
        // Useless to the caller; tagged and expired, so the sweep deletes it.
        this.#log.warn({ endpointId: endpoint.endpointId }, 'brtc: the provider created an endpoint that has already expired')
        throw upstreamUnavailable(BRTC_UPSTREAM, 'bad_response', DEFAULT_RETRY_MS)
      }
      const counted = await this.#caps.confirm(reservation, endpoint.endpointId, endpoint.expiresAtMs)
      settled = true
      if (!counted) {
        await this.#discard(endpoint.endpointId)
        throw this.#atCap()
      }
      return {
        endpointId: endpoint.endpointId,
        token: endpoint.token,
        expiresIn,
        expiresAt: new Date(endpoint.expiresAtMs).toISOString(),
        tokenSha256: fingerprint(endpoint.token)
      }
    } finally {
      const creating = (this.#creating.get(owner.tag) ?? 1) - 1
      if (creating > 0) this.#creating.set(owner.tag, creating)
      else this.#creating.delete(owner.tag)
      if (!settled) await this.#caps.cancel(reservation)
    }
  }

  /**
   * After a create whose answer was lost: a live endpoint of the owner's that the cap does not hold
   * is the one it made, and takes the reserved slot; none frees it. When that cannot be told (the
   * list fails, or another create of the owner is in flight here, whose endpoint may be listed
   * before it is confirmed), the reservation frees itself after its time.
   */
  async #reconcile (owner: Owner, reservation: Reservation): Promise<void> {
    try {
      const listed = await this.list(owner)
      if ((this.#creating.get(owner.tag) ?? 0) > 1) {
        this.#log.debug({}, 'brtc: a create whose answer was lost has company in flight; its slot frees itself')
        return
      }
      for (const endpoint of listed) {
        if (await this.#caps.holds(owner.tags, endpoint.endpointId)) continue
        // Not deleted when the cap filled meanwhile: an endpoint found by listing may be one that
        // a create of the same caller on another replica is about to hand out.
        const counted = await this.#caps.confirm(reservation, endpoint.endpointId, Date.parse(endpoint.expiresAt))
        this.#log.warn({ endpointId: endpoint.endpointId }, counted
          ? 'brtc: a create whose answer was lost made an endpoint; it counts toward its caller\'s cap'
          : 'brtc: a create whose answer was lost made an endpoint, but its caller\'s cap filled meanwhile; it is not counted')
        return
      }
      await this.#caps.cancel(reservation)
    } catch (err) {
      this.#log.debug({ errorClass: logSafeCode(err) }, 'brtc: cannot tell whether a create whose answer was lost made an endpoint; its slot frees itself')
    }
  }

  /** The owner's live endpoints, from the provider's list (which cannot filter by tag). */
  async list (owner: Owner): Promise<ListedEndpoint[]> {
    const now = this.#clock.wall()
    const mine: ListedEndpoint[] = []
    let pages = 0
    const complete = await eachPage(async (after) => await this.#call(async () => await this.#api.listPage(after)), MAX_LIST_PAGES, (page) => {
      pages++
      for (const e of page.endpoints) {
        if (isServiceTag(e.tag) && e.expiresAtMs > now && tagMatches(e.tag, owner.tags)) {
          mine.push({ endpointId: e.endpointId, expiresAt: new Date(e.expiresAtMs).toISOString(), status: e.status })
        }
      }
    })
    if (!complete) this.#log.warn({ pages }, 'brtc: the account\'s endpoint list is too long or does not end; a caller\'s list holds what was read')
    return mine
  }

  /**
   * Deletes the owner's endpoint: 'deleted', or 'gone' when it was the owner's and no longer
   * exists. Throws the 404 when it does not exist or is not the owner's.
   */
  async remove (owner: Owner, endpointId: string): Promise<'deleted' | 'gone'> {
    const endpoint = await this.#call(async () => await this.#api.get(endpointId))
    if (endpoint === undefined) {
      // Gone already: the owner's if this service counted it for them (and it has not expired).
      if (!await this.#caps.holds(owner.tags, endpointId)) throw endpointNotFound()
      await this.#caps.release(owner.tags, endpointId)
      return 'gone'
    }
    if (!tagMatches(endpoint.tag, owner.tags)) throw endpointNotFound()
    const outcome = await this.#call(async () => await this.#api.delete(endpointId))
    await this.#caps.release(owner.tags, endpointId)
    return outcome
  }

  #atCap (): AppError {
    return appError(409, 'ENDPOINT_LIMIT', `This caller already holds ${this.maxPerCaller} live endpoints; delete one first`)
  }

  /**
   * Deletes the endpoint a create made after its reservation lapsed, when the caller's cap filled
   * meanwhile: the caller never gets its token. Tagged, so the sweep deletes it after it expires
   * if this delete fails.
   */
  async #discard (endpointId: string): Promise<void> {
    this.#log.warn({ endpointId }, 'brtc: a create outlived its reservation and the caller\'s cap filled meanwhile; its endpoint is deleted')
    try {
      await this.#api.delete(endpointId)
    } catch (err) {
      this.#log.warn({ endpointId, errorClass: logSafeCode(err) }, 'brtc: cannot delete the endpoint over the cap; the sweep deletes it once it expires')
    }
  }

  /** Runs a provider call; its failure becomes the AppError to answer. */
  async #call<T> (fn: () => Promise<T>): Promise<T> {
    let result: T
    try {
      result = await fn()
    } catch (err) {
      throw this.#asAppError(err)
    }
    this.#rejectionLogged = false
    if (this.#outage) {
      this.#outage = false
      this.#log.info({}, 'brtc: the Endpoints API answers again')
    }
    return result
  }

  #asAppError (err: unknown): unknown {
    if (!(err instanceof BrtcApiError)) return err
    const { errorClass, operation, status } = err
    if (errorClass === 'credentials_rejected') {
      if (!this.#rejectionLogged) {
        this.#rejectionLogged = true
        this.#log.error({ operation, status }, 'brtc: the Endpoints API refused the bandwidth credentials; they lack the BRTC role ' +
          '(or the account id is not theirs): grant the role to the bandwidth upstream\'s client id')
      }
      return upstreamCredentialsRejected(BRTC_UPSTREAM)
    }
    if (errorClass === 'client_error' || errorClass === 'bad_response') {
      // Not an outage: the provider refused or garbled a request this service made.
      this.#log.warn({ operation, status, errorClass }, 'brtc: unexpected answer from the Endpoints API')
    } else if (!this.#outage) {
      this.#outage = true
      this.#log.warn({ operation, status, errorClass }, 'brtc: the Endpoints API is not answering; endpoint requests get 503 until it does')
    }
    return upstreamUnavailable(BRTC_UPSTREAM, errorClass, err.retryAfterMs ?? DEFAULT_RETRY_MS)
  }
}

/** Whether a failed create may still have made an endpoint: the request may have reached the provider, and its answer was lost. */
function mayHaveCreated (err: unknown): boolean {
  if (!(err instanceof BrtcApiError)) return false
  const { errorClass, status } = err
  return errorClass === 'timeout' || errorClass === 'network' || (errorClass === 'bad_response' && status !== undefined && status >= 200 && status < 300)
}
