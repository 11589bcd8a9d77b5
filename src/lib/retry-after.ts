// `Retry-After` (RFC 9110 §10.2.3) as a delay in milliseconds. One parser for the server (the
// provider's header) and the browser client (this service's header), so both read every form the
// same way: delta-seconds (a decimal such as `7.5` is taken as meant), an HTTP-date (a past one
// is 0), capped; a negative number or anything else is no header at all. Dependency-free: it is
// bundled into the browser client.

const HTTP_DATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,? [\w -]+ \d{2}:\d{2}:\d{2}( GMT| \d{4})$/

/** The delay `value` asks for, from `nowMs` (wall clock), at most `capMs`; undefined when absent or invalid. */
export function parseRetryAfter (value: string | null | undefined, nowMs: number, capMs: number): number | undefined {
  if (value === null || value === undefined) return undefined
  const text = value.trim()
  if (/^\d+(\.\d+)?$/.test(text)) return Math.min(Math.ceil(Number(text) * 1000), capMs)
  // An HTTP-date (IMF-fixdate, or the obsolete RFC 850 and asctime forms): a day name, a time of
  // day, in GMT. Date.parse alone would read "-3" or "7.5x" as years, or a zone-less date in local time.
  if (!HTTP_DATE.test(text)) return undefined
  // asctime has no zone but means GMT, as the others say.
  const at = Date.parse(text.endsWith('GMT') ? text : `${text} GMT`)
  if (Number.isNaN(at)) return undefined
  return Math.min(Math.max(0, at - nowMs), capMs)
}
