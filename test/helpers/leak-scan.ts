// Finds secrets in captured output in every form a log or reply can carry them: as text, inside
// JSON at any depth, as a byte array (`[71,69,84,…]` or `{"type":"Buffer","data":[…]}`, what pino
// writes for a Buffer such as a parser error's `rawPacket`), base64/base64url, and
// percent-encoded. Each piece of output is decoded every such way before the needles are looked
// for, so a credential cannot hide behind an encoding.
export function decodings (text: string): string[] {
  const out = new Set<string>([text])
  const add = (value: string): void => { if (value !== '') out.add(value) }
  try {
    collect(JSON.parse(text), add)
  } catch {
    // Not JSON: the text itself, and its decodings below.
  }
  for (const value of [...out]) {
    try {
      add(decodeURIComponent(value))
    } catch {
      add(value.replace(/%[0-9A-Fa-f]{2}/g, (hex) => String.fromCharCode(parseInt(hex.slice(1), 16))))
    }
    for (const run of value.match(/[A-Za-z0-9+/_-]{16,}={0,2}/g) ?? []) {
      add(Buffer.from(run.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('latin1'))
    }
  }
  return [...out]
}

function collect (value: unknown, add: (value: string) => void): void {
  if (typeof value === 'string') {
    add(value)
    return
  }
  if (Array.isArray(value)) {
    if (value.length > 0 && value.every((n) => Number.isInteger(n) && n >= 0 && n <= 255)) add(Buffer.from(value as number[]).toString('latin1'))
    for (const item of value) collect(item, add)
    return
  }
  if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      add(key)
      collect(item, add)
    }
  }
}

/** The needles (or their first 6 characters, for the report) found in any decoding of any piece of output. */
export function findLeaks (output: readonly string[], needles: readonly string[]): string[] {
  const decoded = output.flatMap(decodings).join('\n')
  return needles.filter((needle) => needle !== '' && decoded.includes(needle)).map((needle) => `${needle.slice(0, 6)}…`)
}
