// The demo page's script (demo/index.html): loads the token client from the token service, on
// the service's origin, and shows what it does: the upstream, a masked token, a live countdown
// and every token received. With per-user endpoint tokens on, it also creates, lists and deletes
// the caller's endpoints through the endpoint client of the same module. No inline script or
// style anywhere, so the page runs under a strict CSP. No token is ever shown whole, logged or
// stored.

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
const { createTokenClient, createEndpointClient } = await import(clientUrl)

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

// Per-user endpoint tokens: only when the service runs the mode (the demo turns it on).
if (config.endpoints === true) {
  $('endpoint-panel').hidden = false
  const endpoints = createEndpointClient({
    url: `${config.serviceUrl}/endpoints/webrtc`,
    headers: () => ({ 'X-API-Key': config.apiKey })
  })
  const failed = (err) => { $('endpoint-error').textContent = describeEndpointError(err) }

  async function refresh () {
    const mine = await endpoints.list()
    const list = $('endpoints')
    list.replaceChildren(...mine.map((e) => {
      const item = document.createElement('li')
      item.dataset.endpointId = e.endpoint_id
      const text = document.createElement('span')
      text.textContent = `${e.endpoint_id}  ${e.status}  until ${e.expires_at}`
      const remove = document.createElement('button')
      remove.type = 'button'
      remove.textContent = 'Delete'
      remove.addEventListener('click', () => {
        endpoints.release(e.endpoint_id).then(refresh).then(ok, failed)
      })
      item.append(text, ' ', remove)
      return item
    }))
  }
  const ok = () => { $('endpoint-error').textContent = 'none' }

  $('endpoint-create').addEventListener('click', () => {
    endpoints.createEndpoint().then((endpoint) => {
      // A WebRTC app hands endpoint.token to the SDK here; the page shows only its first characters.
      $('endpoint-id').textContent = endpoint.endpoint_id
      $('endpoint-token').textContent = mask(endpoint.token)
      $('endpoint-expires-at').textContent = endpoint.expires_at
      return refresh()
    }).then(ok, failed)
  })
  $('endpoint-refresh').addEventListener('click', () => { refresh().then(ok, failed) })
  $('endpoint-release').addEventListener('click', () => {
    endpoints.release().then(() => {
      $('endpoint-id').textContent = '–'
      $('endpoint-token').textContent = '–'
      $('endpoint-expires-at').textContent = '–'
      return refresh()
    }).then(ok, failed)
  })
  refresh().then(ok, failed)
}

function describeEndpointError (err) {
  const status = err.status === undefined ? '' : ` (HTTP ${err.status})`
  const retry = err.retryAfterMs === undefined ? '' : `, retry in ${Math.ceil(err.retryAfterMs / 1000)} s`
  return `${err.code ?? err.name}${status}${retry}`
}
