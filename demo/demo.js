// The demo page's script (demo/index.html): loads the token client from the token service, on
// the service's origin, and shows what it does: the upstream, a masked token, a live countdown
// and every token received. No inline script or style anywhere, so the page runs under a strict
// CSP. The token is never shown whole, logged or stored.

const $ = (id) => {
  const el = document.getElementById(id)
  if (el === null) throw new Error(`#${id} is missing`)
  return el
}
const mask = (token) => `${token.slice(0, 6)}…`

function show (state, text) {
  const el = $('state')
  el.dataset.state = state
  el.textContent = text
}

function describe (err) {
  const status = err.status === undefined ? '' : ` (HTTP ${err.status})`
  const retry = err.retryInMs === undefined ? ', not retrying' : `, retrying in ${Math.ceil(err.retryInMs / 1000)} s`
  return `${err.code ?? err.name}${status}${retry}`
}

// The demo server hands this page the service URL and the demo API key. A real app knows its
// service URL and sends its signed-in user's JWT instead of a key.
const config = await (await fetch('/config.json', { cache: 'no-store' })).json()
const clientUrl = `${config.serviceUrl}/client/token-client.js`
$('client-url').textContent = clientUrl
const { createTokenClient } = await import(clientUrl)

const upstream = new URLSearchParams(document.location.search).get('upstream') ?? config.upstream
let expiresAt = 0
let received = 0

const client = createTokenClient({
  url: `${config.serviceUrl}/token/webrtc`,
  upstream,
  headers: () => ({ 'X-API-Key': config.apiKey }),
  onToken (token) {
    // A WebRTC app does this here: bandwidthUA.setOAuthToken(token.access_token)
    received++
    expiresAt = Date.parse(token.expires_at)
    show('ok', received === 1 ? 'got a token' : `refreshed (${received - 1}×)`)
    $('upstream').textContent = token.upstream
    $('token').textContent = mask(token.access_token)
    $('expires-at').textContent = token.expires_at
    const item = document.createElement('li')
    item.textContent = `${new Date().toLocaleTimeString()}  ${received === 1 ? 'first token' : 'refresh'}  ${mask(token.access_token)}  expires_in ${token.expires_in} s`
    $('refreshes').prepend(item)
    tick()
  },
  onError (err) {
    show('error', 'failing')
    $('error').textContent = describe(err)
  }
})

function tick () {
  if (expiresAt === 0) return
  const left = Math.max(0, Math.ceil((expiresAt - Date.now()) / 1000))
  $('countdown').textContent = `${left} s`
  if (left === 0) show('error', 'expired')
}
setInterval(tick, 250)

client.get().catch(() => {}) // a failure is shown by onError
