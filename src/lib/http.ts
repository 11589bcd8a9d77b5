// One outbound HTTP exchange under this service's rules, shared by the provider's token requests
// and the BRTC Endpoints API calls: the whole exchange (connect, headers and body) within a
// timeout on the injected clock, abortable from outside (shutdown), never following a redirect
// with credentials, bodies read with a size bound, and transport failures classified with a
// log-safe message (a system code, never the error's own message).
import type { Clock } from './clock.js'
import { logSafeCode } from './errors.js'

export interface ExchangeOptions {
  fetch: typeof globalThis.fetch
  url: URL | string
  /** Method, headers and body; `redirect` and `signal` are set here. */
  init: Omit<RequestInit, 'redirect' | 'signal'>
  timeoutMs: number
  clock: Clock
  /** Aborts the exchange from outside (shutdown). */
  signal?: AbortSignal | undefined
}

/** Why an exchange failed below HTTP: its class and a message safe to log. */
export interface TransportFailure {
  errorClass: 'timeout' | 'network'
  message: string
}

/**
 * Sends the request and runs `read` on the answer, both within the timeout. What `read` throws
 * and `isOwn` recognises passes through; anything else (a refused connection, a timeout, an
 * outside abort, a body that broke off) becomes `fail(failure)`.
 */
export async function exchange<T> (opts: ExchangeOptions, read: (res: Response) => Promise<T>, isOwn: (err: unknown) => boolean, fail: (failure: TransportFailure) => Error): Promise<T> {
  const { clock, signal, timeoutMs } = opts
  // One controller aborts the exchange, fired by our timer on the injected clock (so tests drive
  // it) or by the caller's signal; `timedOut` tells the two apart.
  const controller = new AbortController()
  let timedOut = false
  const timer = clock.setTimer(() => {
    timedOut = true
    controller.abort()
  }, timeoutMs)
  const onAbort = (): void => { controller.abort() }
  signal?.addEventListener('abort', onAbort, { once: true })
  if (signal?.aborted === true) controller.abort()
  let failure: Error
  try {
    // Credentials are never re-sent to wherever a redirect points; a 3xx is the caller's to judge.
    const res = await opts.fetch(opts.url, { ...opts.init, redirect: 'manual', signal: controller.signal })
    return await read(res)
  } catch (err) {
    failure = isOwn(err) ? err as Error : fail(transportFailure(err, timedOut, signal?.aborted === true, timeoutMs))
  } finally {
    clock.clearTimer(timer)
    signal?.removeEventListener('abort', onAbort)
  }
  // Thrown after the try statement, not inside catch, so every path through it is reachable.
  throw failure
}

function transportFailure (err: unknown, timedOut: boolean, abortedOutside: boolean, timeoutMs: number): TransportFailure {
  if (timedOut) return { errorClass: 'timeout', message: `no complete response within ${timeoutMs} ms` }
  if (abortedOutside) return { errorClass: 'network', message: 'request aborted' }
  const code = logSafeCode(err)
  return { errorClass: 'network', message: `request failed${/^E[A-Z0-9_]+$/.test(code) ? ` (${code})` : ''}` }
}

/** The body as UTF-8, or undefined when it exceeds `maxBytes` or is not valid UTF-8. */
export async function readText (res: Response, maxBytes: number): Promise<string | undefined> {
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of res.body ?? []) {
    size += chunk.byteLength
    if (size > maxBytes) return undefined // leaving the loop cancels the stream
    chunks.push(chunk)
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks))
  } catch {
    return undefined
  }
}

/** `application/json`, with or without parameters such as `; charset=UTF-8`. */
export function isJsonMediaType (contentType: string | null | undefined): boolean {
  return contentType?.split(';', 1)[0]?.trim().toLowerCase() === 'application/json'
}

/** The body parsed as JSON (bounded as readText), or undefined. */
export async function readJson (res: Response, maxBytes: number): Promise<unknown> {
  const text = await readText(res, maxBytes)
  if (text === undefined) return undefined
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** Releases an unread body so the connection can be reused. Always resolves to undefined. */
export async function discard (res: Response): Promise<undefined> {
  try {
    await res.body?.cancel()
  } catch {
    // A body that errors while being cancelled has nothing we need.
  }
  return undefined
}
