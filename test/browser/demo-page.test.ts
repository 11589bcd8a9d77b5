// The demo page as a newcomer sees it: runs `npm run demo` (scripts/demo.ts, as a child, with
// short token lifetimes), opens the page URL it prints in Chromium, and checks that the page
// shows the upstream, a masked token, a live countdown and each refresh, and that its endpoint
// panel (per-user endpoint tokens, on in the demo) creates, lists and deletes endpoints, under
// its strict CSP with no console errors. The screenshot is kept as test-artifacts/demo-page.png.
import t from 'tap'
import { once } from 'node:events'
import { mkdir, stat } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { spawnDemo } from '../helpers/demo.js'
import { eventually } from '../helpers/eventually.js'
import { browserSkipReason, launchChromium } from '../helpers/browser.js'

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url))

t.test('npm run demo serves a page that shows the client at work', { skip: browserSkipReason() }, async (t) => {
  // 36 s tokens with the global upstream's 30 s margin: ~5 s usable, so a refresh within seconds.
  const { child, stdout, printed: printedBy } = spawnDemo(t, ['--token-lifetime', '36'], 60_000)
  const printed = await printedBy((out) => {
    const service = /curl -s -H 'X-API-Key: [^']+' (http:\/\/\S+)\/token\/webrtc/.exec(out)?.[1]
    const page = /^ {2}(http:\/\/127\.0\.0\.1:\d+\/)$/m.exec(out)?.[1]
    return service !== undefined && page !== undefined ? { service, page } : undefined
  })
  t.not(new URL(printed.page).origin, printed.service, 'the page has an origin of its own')

  const browser = await launchChromium(t)
  const page = await browser.newPage({ viewport: { width: 1000, height: 900 } })
  const problems: string[] = []
  page.on('console', (message) => { if (message.type() === 'error' || message.type() === 'warning') problems.push(message.text()) })
  page.on('pageerror', (err) => { problems.push(String(err)) })
  await page.goto(printed.page)

  // Locators and textContent, not waitForFunction strings: those need eval, which the CSP forbids.
  await page.locator('#refreshes li').nth(1).waitFor({ timeout: 30_000 })
  const text = async (selector: string): Promise<string> => (await page.textContent(selector)) ?? ''
  t.equal(await text('#upstream'), 'global')
  t.match(await text('#token'), /^[\w-]{6}…$/, 'the token, masked to its first 6 characters')
  t.equal(await text('#client-url'), `${printed.service}/client/token-client.js`, 'the client comes from the service')
  t.equal(await page.getAttribute('#state', 'data-state'), 'ok')
  const items = await page.$$eval('#refreshes li', (lis) => lis.map((li) => li.textContent ?? ''))
  t.match(items.at(-1), /first token/)
  t.match(items[0], /refresh/)

  const countdown = await text('#countdown')
  t.match(countdown, /^\d+ s$/)
  let later = countdown
  await eventually(async () => (later = await text('#countdown')) !== countdown, 'the countdown to move')
  t.not(later, countdown, `the countdown is live (${countdown} → ${later})`)

  // Per-user endpoint tokens: create two, delete one from the list, then release all (sign-out).
  t.equal(await page.isVisible('#endpoint-panel'), true, 'the demo runs the endpoint mode')
  await page.click('#endpoint-create')
  await page.locator('#endpoints li').nth(0).waitFor({ timeout: 15_000 })
  await page.click('#endpoint-create')
  await page.locator('#endpoints li').nth(1).waitFor({ timeout: 15_000 })
  t.match(await text('#endpoint-id'), /^e-[0-9a-f-]+$/)
  t.match(await text('#endpoint-token'), /^[\w-]{6}…$/, 'the endpoint token, masked')
  t.equal(await text('#endpoint-error'), 'none')
  const listed = async (): Promise<number> => await page.locator('#endpoints li').count()
  t.equal(await listed(), 2)
  await page.locator('#endpoints li button').first().click()
  await page.locator('#endpoints li').nth(1).waitFor({ state: 'detached', timeout: 15_000 })
  t.equal(await listed(), 1, 'deleted from the list')
  await mkdir(ARTIFACTS, { recursive: true })
  await page.screenshot({ path: `${ARTIFACTS}demo-page-endpoints.png`, fullPage: true })
  await page.click('#endpoint-release')
  await page.locator('#endpoints li').first().waitFor({ state: 'detached', timeout: 15_000 })
  t.equal(await listed(), 0, 'released on sign-out')
  t.equal(await text('#endpoint-id'), '–')

  const body = await text('body')
  t.notMatch(body, /eyJ[\w-]{8,}\.[\w-]{8,}/, 'no whole token on the page')
  t.same(problems, [], 'no CSP violation, error or warning on the console')

  await mkdir(ARTIFACTS, { recursive: true })
  const shot = `${ARTIFACTS}demo-page.png`
  await page.screenshot({ path: shot, fullPage: true })
  t.ok((await stat(shot)).size > 10_000, 'screenshot kept as test-artifacts/demo-page.png')
  t.notMatch(stdout(), /eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}/, 'the demo prints no token')

  child.kill('SIGTERM')
  const [code] = await once(child, 'exit')
  t.equal(code, 0, 'the demo exits cleanly on SIGTERM')
})
