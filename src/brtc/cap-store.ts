// The per-caller cap on live endpoints (BRTC_MAX_ENDPOINTS_PER_CALLER): the interface, and the
// in-memory store that counts this replica's endpoints. A create first reserves a slot (atomically:
// here everything runs on one thread without awaiting, so two creates at the cap cannot both get
// one), calls the provider, then confirms the slot with the endpoint id and its expiry, or cancels
// it when the call failed. A slot is freed when its endpoint expires or is deleted through the
// service; a reservation that is never confirmed frees itself after `reservationMs`. A create that
// outlives its reservation (a slow account token) confirms only while the cap still has room, so
// a slot another create took meanwhile is never counted twice.
//
// A caller is counted under each of its owner tags (src/brtc/owner-tag.ts: the current key's and
// those of the previous keys this process knows), so the cap counts exactly the endpoints this
// process recognises as the caller's. With REDIS_URL the count is shared by all replicas
// (redis-cap-store.ts), and this store is its fallback while Redis is down.
import { randomBytes } from 'node:crypto'
import { systemClock, type Clock } from '../lib/clock.js'

/** A slot held for a create in flight. */
export interface Reservation {
  /** The member that holds the slot until confirmed or cancelled. */
  readonly member: string
  /** The caller's ids (owner tags), the first being where the endpoint is counted. */
  readonly ids: readonly string[]
  /** Held in Redis (shared) or here (local). */
  readonly shared: boolean
  /** The cap it was reserved under: a confirm after the reservation lapsed is held to it again. */
  readonly max: number
}

export interface CapStore {
  /** A slot, when fewer than `max` live endpoints and reservations are counted under `ids`; undefined at the cap. */
  reserve (ids: readonly string[], max: number): Promise<Reservation | undefined>
  /**
   * Turns the reservation into the endpoint's slot, held until it expires or is released. A
   * reservation that lapsed takes a slot only below its cap: false (nothing counted) when the cap
   * filled meanwhile.
   */
  confirm (reservation: Reservation, endpointId: string, expiresAtMs: number): Promise<boolean>
  /** Frees the slot of a create that failed. */
  cancel (reservation: Reservation): Promise<void>
  /** Whether the endpoint is counted under one of `ids` (it was created for this caller). */
  holds (ids: readonly string[], endpointId: string): Promise<boolean>
  /** Frees the endpoint's slot (it was deleted). */
  release (ids: readonly string[], endpointId: string): Promise<void>
  /** Forgets expired slots of every caller (memory hygiene; counting already ignores them). */
  prune (): void
}

export interface MemoryCapStoreOptions {
  clock?: Clock
  /** How long an unconfirmed reservation holds its slot. */
  reservationMs: number
}

/** A reservation's member: never an endpoint id, which starts with `e-`. */
export const reservationMember = (): string => `r:${randomBytes(12).toString('base64url')}`

/** One replica's count: per owner tag, member → wall-clock ms at which its slot frees itself. */
export class MemoryCapStore implements CapStore {
  readonly #clock: Clock
  readonly #reservationMs: number
  readonly #slots = new Map<string, Map<string, number>>()

  constructor (opts: MemoryCapStoreOptions) {
    this.#clock = opts.clock ?? systemClock
    this.#reservationMs = opts.reservationMs
  }

  async reserve (ids: readonly string[], max: number): Promise<Reservation | undefined> {
    return this.reserveNow(ids, max)
  }

  /** reserve(), synchronously: the check and the add cannot interleave with another create. */
  reserveNow (ids: readonly string[], max: number): Reservation | undefined {
    const now = this.#clock.wall()
    if (this.#count(ids, now) >= max) return undefined
    const member = reservationMember()
    this.#add(ids[0] as string, member, now + this.#reservationMs)
    return { member, ids: [...ids], shared: false, max }
  }

  async confirm (reservation: Reservation, endpointId: string, expiresAtMs: number): Promise<boolean> {
    const { ids, member, max } = reservation
    const now = this.#clock.wall()
    const held = this.#live(ids[0] as string, now)?.has(member) === true
    this.#remove(ids, member)
    if (!held && this.#count(ids, now) >= max) return false
    this.record(ids[0] as string, endpointId, expiresAtMs)
    return true
  }

  async cancel (reservation: Reservation): Promise<void> {
    this.#remove(reservation.ids, reservation.member)
  }

  async holds (ids: readonly string[], endpointId: string): Promise<boolean> {
    const now = this.#clock.wall()
    return ids.some((id) => this.#live(id, now)?.has(endpointId) === true)
  }

  async release (ids: readonly string[], endpointId: string): Promise<void> {
    this.#remove(ids, endpointId)
  }

  /** Counts an endpoint under `id` (also a mirror of what the shared store holds, for when Redis is down). */
  record (id: string, endpointId: string, expiresAtMs: number): void {
    if (expiresAtMs > this.#clock.wall()) this.#add(id, endpointId, expiresAtMs)
  }

  prune (): void {
    const now = this.#clock.wall()
    for (const id of [...this.#slots.keys()]) this.#live(id, now)
  }

  /** Callers with a live slot (for tests: expired ones are forgotten). */
  get size (): number {
    return this.#slots.size
  }

  /** Live slots counted under any of `ids`. */
  #count (ids: readonly string[], now: number): number {
    let count = 0
    for (const id of ids) count += this.#live(id, now)?.size ?? 0
    return count
  }

  /** The id's slots with the expired ones dropped; an id left with none is forgotten. */
  #live (id: string, now: number): Map<string, number> | undefined {
    const slots = this.#slots.get(id)
    if (slots === undefined) return undefined
    for (const [member, until] of slots) if (until <= now) slots.delete(member)
    if (slots.size === 0) {
      this.#slots.delete(id)
      return undefined
    }
    return slots
  }

  #add (id: string, member: string, until: number): void {
    let slots = this.#slots.get(id)
    if (slots === undefined) this.#slots.set(id, slots = new Map())
    slots.set(member, until)
  }

  #remove (ids: readonly string[], member: string): void {
    for (const id of ids) {
      const slots = this.#slots.get(id)
      if (slots === undefined) continue
      slots.delete(member)
      if (slots.size === 0) this.#slots.delete(id)
    }
  }
}
