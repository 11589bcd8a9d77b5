// parseCorsOrigins (src/config/parse-cors-origins.ts), on its own: CORS_ORIGINS as exact origins in
// the canonical form browsers send in `Origin`; wildcards and the opaque `null` origin refused,
// since either would let any page fetch tokens with a user's credentials. Also the problem
// contract: pushed onto the caller's list, prefixed with the label, numbered, and never quoting
// the entry. test/config/cors-trust-proxy.test.ts sees it only through loadConfig.
import t from 'tap'
import fc from 'fast-check'
import { parseCorsOrigins } from '../../src/config/parse-cors-origins.js'

const NOT_AN_ORIGIN = 'is not an exact origin of the form https://host[:port] (lowercase, no path, query, trailing slash or default port)'

function parse (value: string, label = 'CORS_ORIGINS'): { origins: string[], problems: string[] } {
  const problems: string[] = []
  return { origins: parseCorsOrigins(value, label, problems), problems }
}

t.test('exact http(s) origins are kept in order, trimmed, without duplicates', async (t) => {
  t.same(parse('https://app.example.com'), { origins: ['https://app.example.com'], problems: [] })
  t.same(parse(' https://b.example.com ,http://localhost:3000,https://b.example.com, https://a.example.com '), {
    origins: ['https://b.example.com', 'http://localhost:3000', 'https://a.example.com'],
    problems: []
  })
})

t.test('canonical origins of every shape a browser sends are accepted', async (t) => {
  for (const origin of [
    'https://app.example.com:8443',
    'http://127.0.0.1:5173',
    'http://[::1]:8080',
    'https://[2001:db8::1]',
    'https://xn--bcher-kva.example',
    'http://localhost'
  ]) {
    t.same(parse(origin), { origins: [origin], problems: [] }, origin)
  }
})

t.test('empty entries are skipped; no entry at all is a problem', async (t) => {
  t.same(parse('https://a.example.com,,, ,'), { origins: ['https://a.example.com'], problems: [] })
  for (const empty of ['', '   ', ',', ' , ,, ']) {
    t.same(parse(empty), { origins: [], problems: ['CORS_ORIGINS: contains no origins'] }, JSON.stringify(empty))
  }
})

t.test('a wildcard is refused, alone or inside an origin', async (t) => {
  for (const entry of ['*', 'https://*.example.com', 'https://app.example.com:*', '*://app.example.com']) {
    t.same(parse(entry).problems, ['CORS_ORIGINS: entry 1 is a wildcard, which is refused: list exact origins'], entry)
  }
})

t.test('the null origin is refused in any case', async (t) => {
  for (const entry of ['null', 'NULL', 'Null']) {
    t.same(parse(entry).problems, ['CORS_ORIGINS: entry 1 is the null origin, which is refused'], entry)
  }
})

t.test('anything but the canonical form of an http(s) origin is refused', async (t) => {
  for (const entry of [
    'https://app.example.com/',
    'https://app.example.com/path',
    'https://app.example.com?x=1',
    'https://app.example.com#top',
    'https://App.Example.com',
    'HTTPS://app.example.com',
    'https://app.example.com:443',
    'http://app.example.com:80',
    'https://app.example.com:0443',
    'https://user:pass@app.example.com',
    'https://bücher.example',
    'https://%61pp.example.com',
    'http://127.1',
    'app.example.com',
    '//app.example.com',
    'ws://app.example.com',
    'file:///etc/passwd',
    'data:text/html;hi',
    'javascript:alert(1)',
    'capacitor://localhost'
  ]) {
    t.same(parse(entry), { origins: [], problems: [`CORS_ORIGINS: entry 1 ${NOT_AN_ORIGIN}`] }, entry)
  }
})

t.test('each bad entry is one problem, numbered among the non-empty entries; good ones are still returned', async (t) => {
  const { origins, problems } = parse('https://ok.example.com, *, ,null,https://ok.example.com/,http://also.example.com')
  t.same(problems, [
    'CORS_ORIGINS: entry 2 is a wildcard, which is refused: list exact origins',
    'CORS_ORIGINS: entry 3 is the null origin, which is refused',
    `CORS_ORIGINS: entry 4 ${NOT_AN_ORIGIN}`
  ])
  t.same(origins, ['https://ok.example.com', 'http://also.example.com'])
})

t.test('problems are appended to the caller\'s list under its label', async (t) => {
  const problems = ['EARLIER: something else']
  parseCorsOrigins('null', 'SOME_LABEL', problems)
  t.same(problems, ['EARLIER: something else', 'SOME_LABEL: entry 1 is the null origin, which is refused'])
  parseCorsOrigins('https://fine.example.com', 'SOME_LABEL', problems)
  t.equal(problems.length, 2, 'a valid value adds nothing')
})

t.test('a problem never quotes the entry it is about', async (t) => {
  const marker = 'hunter2-marker'
  for (const entry of [`https://u:${marker}@a.example.com`, `https://${marker}.example.com/`, `${marker}*`, `x${marker}`]) {
    const { problems } = parse(entry)
    t.equal(problems.length, 1, entry)
    t.notMatch(problems.join('\n'), marker, `${entry}: not quoted`)
  }
})

t.test('property: every origin returned is its own canonical origin, never * or null, and none is dropped silently', async (t) => {
  const entry = fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.webUrl({ withQueryParameters: true, withFragments: true }),
    fc.webUrl().map((u) => new URL(u).origin)
  )
  t.doesNotThrow(() => {
    fc.assert(fc.property(fc.array(entry, { maxLength: 5 }), (entries) => {
      const value = entries.join(',')
      const { origins, problems } = parse(value)
      const nonEmpty = value.split(',').map((p) => p.trim()).filter((p) => p !== '')
      const canonical = origins.every((o) => !o.includes('*') && o.toLowerCase() !== 'null' && new URL(o).origin === o)
      // Without a problem, every entry made it; with one, the value is refused as a whole anyway.
      const complete = problems.length > 0 || (nonEmpty.length > 0 && nonEmpty.every((p) => origins.includes(p)))
      return canonical && complete
    }))
  })
})
