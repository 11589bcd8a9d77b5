// Parses CORS_ORIGINS into exact origins. A wildcard or the opaque `null` origin would let
// any page (or any sandboxed one) fetch tokens with a user's credentials, so both are refused,
// and each entry must already be in the canonical form browsers send in `Origin`.

/** Each problem is pushed as `<label>: …`; the result is meaningful only when none was pushed. */
export function parseCorsOrigins (value: string, label: string, problems: string[]): string[] {
  const origins = new Set<string>()
  const parts = value.split(',').map(part => part.trim()).filter(part => part !== '')
  if (parts.length === 0) problems.push(`${label}: contains no origins`)
  parts.forEach((part, index) => {
    const problem = checkOrigin(part)
    if (problem === undefined) origins.add(part)
    else problems.push(`${label}: entry ${index + 1} ${problem}`)
  })
  return [...origins]
}

/** What is wrong with an entry (a phrase that never quotes it), or undefined. */
function checkOrigin (entry: string): string | undefined {
  // The URL parser accepts `https://*.example.com`; it would never match, so say why.
  if (entry.includes('*')) return 'is a wildcard, which is refused: list exact origins'
  if (entry.toLowerCase() === 'null') return 'is the null origin, which is refused'
  const url = URL.canParse(entry) ? new URL(entry) : undefined
  if (url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.origin !== entry) {
    return 'is not an exact origin of the form https://host[:port] ' +
      '(lowercase, no path, query, trailing slash or default port)'
  }
  return undefined
}
