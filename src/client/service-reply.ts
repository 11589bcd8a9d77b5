// Reading the token service's error replies in the browser clients (token-client.ts,
// endpoint-client.ts): only the machine-readable `code`, never the body itself, so nothing the
// service or a proxy put in a body can reach an error message, the console or the app's logs.

/** The service's error `code` (e.g. `UPSTREAM_UNAVAILABLE`), if the body is its JSON error. */
export async function serviceCodeOf (response: Response): Promise<string | undefined> {
  try {
    const body = await response.json() as { code?: unknown } | null
    const code = body?.code
    return typeof code === 'string' && /^[A-Z][A-Z0-9_]{0,63}$/.test(code) ? code : undefined
  } catch {
    return undefined
  }
}
