// A fake provider for token tests: a `fetch` that records every request and answers from a
// handler, plus builders for typical answers. No test touches the network.
export interface SeenRequest {
  url: string
  method: string
  headers: Headers
  body: string
  redirect: RequestInit['redirect']
  signal: AbortSignal
}

export type Handler = (req: SeenRequest, index: number) => Response | Promise<Response>

export function fakeFetch (handler: Handler): { fetch: typeof globalThis.fetch, requests: SeenRequest[] } {
  const requests: SeenRequest[] = []
  const fetch = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const req: SeenRequest = {
      url: String(input),
      method: init.method ?? 'GET',
      headers: new Headers(init.headers),
      body: typeof init.body === 'string' ? init.body : '',
      redirect: init.redirect,
      signal: init.signal ?? new AbortController().signal
    }
    requests.push(req)
    return await handler(req, requests.length - 1)
  }
  return { fetch: fetch as typeof globalThis.fetch, requests }
}

/** A 200 token answer; `fields` override or (with undefined) remove the defaults. */
export function tokenResponse (fields: Record<string, unknown> = {}, headers: Record<string, string> = {}): Response {
  const body = { access_token: 'tok-1', token_type: 'Bearer', expires_in: 3600, ...fields }
  return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json', ...headers } })
}

export function jsonResponse (status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } })
}

/** A request that never answers; it rejects like undici does once its signal aborts. */
export async function hang (req: SeenRequest): Promise<Response> {
  return await new Promise((_resolve, reject) => {
    if (req.signal.aborted) reject(new DOMException('This operation was aborted', 'AbortError'))
    req.signal.addEventListener('abort', () => { reject(new DOMException('This operation was aborted', 'AbortError')) })
  })
}

export interface Deferred<T> { promise: Promise<T>, resolve: (value: T) => void, reject: (err: unknown) => void }

export function deferred<T> (): Deferred<T> {
  let resolve!: (value: T) => void
  let reject!: (err: unknown) => void
  const promise = new Promise<T>((_resolve, _reject) => { resolve = _resolve; reject = _reject })
  return { promise, resolve, reject }
}
