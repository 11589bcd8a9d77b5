// *_FILE secrets: read and trimmed, exclusive with the plain form, and failures named by the
// *_FILE variable without the path or the content.
import t from 'tap'
import { loadConfig } from '../../src/config/load-config.js'
import { KEY_A, KEY_B, MINIMAL, noFiles, problems } from '../helpers/config-env.js'

const { BANDWIDTH_CLIENT_ID: _id, BANDWIDTH_CLIENT_SECRET: _secret, API_KEYS: _keys, ...REST } = MINIMAL

function files (contents: Record<string, string>): (path: string) => string {
  return path => {
    const content = contents[path]
    if (content === undefined) noFiles()
    return content
  }
}

t.test('every file-capable variable can come from a file, trimmed', async t => {
  const readFile = files({
    '/s/bw-id': 'bw-from-file\n',
    '/s/bw-secret': '  bw-secret-from-file\r\n',
    '/s/gl-id': 'gl-from-file',
    '/s/gl-secret': 'gl-secret-from-file\n\n',
    '/s/api-keys': `alice:${KEY_A}\nbob:${KEY_B}\n`,
    '/s/redis': 'redis://:pw@redis:6379\n',
  })
  const config = loadConfig({
    ...REST,
    BANDWIDTH_CLIENT_ID_FILE: '/s/bw-id',
    BANDWIDTH_CLIENT_SECRET_FILE: '/s/bw-secret',
    GLOBAL_WEBRTC_CLIENT_ID_FILE: '/s/gl-id',
    GLOBAL_WEBRTC_CLIENT_SECRET_FILE: '/s/gl-secret',
    API_KEYS_FILE: '/s/api-keys',
    REDIS_URL_FILE: '/s/redis',
    DEFAULT_UPSTREAM: 'global',
  }, { readFile })
  t.same(config.upstreams.map(u => [u.clientId, u.clientSecret.reveal()]), [
    ['bw-from-file', 'bw-secret-from-file'],
    ['gl-from-file', 'gl-secret-from-file'],
  ])
  t.same(config.apiKeys.map(k => k.name), ['alice', 'bob'], 'newline-separated keys in a file')
  t.equal(config.redisUrl?.reveal(), 'redis://:pw@redis:6379')
})

t.test('a file for one half of a pair and the plain form for the other is a full pair', async t => {
  const config = loadConfig({ ...MINIMAL, BANDWIDTH_CLIENT_SECRET: '', BANDWIDTH_CLIENT_SECRET_FILE: '/s' }, { readFile: () => 'x' })
  t.equal(config.upstreams[0]?.clientSecret.reveal(), 'x', 'an empty plain form counts as unset')
})

t.test('setting both forms is an error', async t => {
  t.same(problems({ ...MINIMAL, BANDWIDTH_CLIENT_SECRET_FILE: '/s' }, { readFile: () => 'x' }), [
    'BANDWIDTH_CLIENT_SECRET and BANDWIDTH_CLIENT_SECRET_FILE are both set: set only one',
  ], 'and the pair is not also reported as half set')
  t.same(problems({ ...MINIMAL, API_KEYS_FILE: '/k' }, { readFile: () => `bob:${KEY_B}` }), [
    'API_KEYS and API_KEYS_FILE are both set: set only one',
  ])
})

t.test('an empty *_FILE counts as unset', async t => {
  const config = loadConfig({ ...MINIMAL, REDIS_URL_FILE: '' }, { readFile: noFiles })
  t.equal(config.redisUrl, undefined)
})

t.test('an unreadable file names the *_FILE variable, with the error code only', async t => {
  t.same(problems({ ...MINIMAL, BANDWIDTH_CLIENT_SECRET: '', BANDWIDTH_CLIENT_SECRET_FILE: '/run/secrets/missing' }, { readFile: noFiles }), [
    'BANDWIDTH_CLIENT_SECRET_FILE: cannot read the file (ENOENT)',
  ], 'no path, and no cascade into "half a pair"')
  t.same(problems({ ...MINIMAL, API_KEYS: '', API_KEYS_FILE: '/k' }, {
    readFile: () => { throw new Error('EACCES: permission denied, open /k') },
  }), ['API_KEYS_FILE: cannot read the file'], 'no code, no message, and no "no authentication" line')
  t.same(problems({ ...MINIMAL, REDIS_URL_FILE: '/r' }, {
    readFile: () => { throw Object.assign(new Error('x'), { code: 'not a code: /r' }) },
  }), ['REDIS_URL_FILE: cannot read the file'], 'a code that does not look like one is dropped')
  t.same(problems({ ...MINIMAL, REDIS_URL_FILE: '/r' }, {
    readFile: () => { throw null }, // eslint-disable-line no-throw-literal -- a hostile readFile
  }), ['REDIS_URL_FILE: cannot read the file'])
})

t.test('real files via t.testdir, including a directory and a missing path', async t => {
  const dir = t.testdir({ id: 'gl-id\n', empty: '\n  \n', sub: {} })
  const env = { ...MINIMAL, DEFAULT_UPSTREAM: 'global', GLOBAL_WEBRTC_CLIENT_ID_FILE: `${dir}/id`, GLOBAL_WEBRTC_CLIENT_SECRET_FILE: `${dir}/missing` }
  t.same(problems(env), ['GLOBAL_WEBRTC_CLIENT_SECRET_FILE: cannot read the file (ENOENT)'])
  t.same(problems({ ...env, GLOBAL_WEBRTC_CLIENT_SECRET_FILE: `${dir}/sub` }), ['GLOBAL_WEBRTC_CLIENT_SECRET_FILE: cannot read the file (EISDIR)'])
  t.same(problems({ ...env, GLOBAL_WEBRTC_CLIENT_SECRET_FILE: `${dir}/empty` }), ['GLOBAL_WEBRTC_CLIENT_SECRET_FILE: the file is empty'])
})

t.test('a bad value from a file is labelled with where it came from', async t => {
  t.same(problems({ ...MINIMAL, BANDWIDTH_CLIENT_ID: '', BANDWIDTH_CLIENT_ID_FILE: '/i' }, { readFile: () => 'a:b' }), [
    'BANDWIDTH_CLIENT_ID (read from BANDWIDTH_CLIENT_ID_FILE): must be a non-empty string without ":" or control characters',
  ])
  t.same(problems({ ...MINIMAL, API_KEYS: '', API_KEYS_FILE: '/k' }, { readFile: () => 'alice:short' }), [
    'API_KEYS (read from API_KEYS_FILE): entry 1 has a key of fewer than 32 characters',
  ])
  t.same(problems({ ...MINIMAL, REDIS_URL_FILE: '/r' }, { readFile: () => 'http://r' }), [
    'REDIS_URL (read from REDIS_URL_FILE): must be an absolute redis: or rediss: URL with a host',
  ])
})
