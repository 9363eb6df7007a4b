import { createHash } from 'node:crypto'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { bearer, buildApp, forEachEngine, login, requestToken } from '../helper.js'

// PWNED_PASSWORDS_URL: a k-anonymity range API (a fake one on loopback, answering as the Pwned
// Passwords API does) refuses breached passwords wherever a new one is set; only five hex
// digits of the SHA-1 leave the service. Down: accepted with one warning, or 503 fail-closed.

const sha1 = (text: string) => createHash('sha1').update(text).digest('hex').toUpperCase()
const BREACHED = 'horse-battery-9917'
const PADDED = 'only-in-the-padding-4410'

/** The range server: knows BREACHED (count 42) and lists PADDED's suffix with count 0, as padding does. */
async function rangeServer (t: Test) {
  const requests: Array<{ url: string, headers: IncomingHttpHeaders }> = []
  const server = createServer((req, res) => {
    requests.push({ url: req.url ?? '', headers: req.headers })
    const prefix = (req.url ?? '').split('/').pop() ?? ''
    const lines = ['0018A45C4D1DEF81644B54AB7F969B88D65:1', '00D4F6E8FA6EECAD2A3AA415EEC418D38EC:2']
    for (const [password, count] of [[BREACHED, 42], [PADDED, 0]] as const) {
      if (sha1(password).startsWith(prefix)) lines.push(`${sha1(password).slice(5)}:${count}`)
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end(lines.join('\r\n'))
  })
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  t.teardown(async () => { await new Promise((resolve) => { server.close(resolve) }) })
  const { port } = server.address() as AddressInfo
  return { url: `http://127.0.0.1:${port}/range`, requests, close: async () => { await new Promise((resolve) => { server.close(resolve) }) } }
}

const TOO_COMMON = { msg: 'This password is too common', type: 'password_too_common' }

forEachEngine(t, async (t, engine) => {
  t.test('a breached password is refused at registration and a change; the API sees five hex digits, padded', async (t) => {
    const range = await rangeServer(t)
    const app = await buildApp(t, { pwnedPasswords: { url: range.url } }, engine)
    const refused = await app.inject({ method: 'POST', url: '/users/', payload: { username: 'breached', password: BREACHED } })
    t.equal(refused.statusCode, 422)
    t.same(refused.json(), { detail: [{ loc: ['body', 'password'], ...TOO_COMMON }] })
    t.equal(await app.tokenAuth.users.findByUsername('breached'), undefined, 'no account')
    t.equal(range.requests[0]?.url, `/range/${sha1(BREACHED).slice(0, 5)}`, 'only the first five hex digits of the SHA-1 were sent')
    t.equal(range.requests[0]?.headers['add-padding'], 'true', 'with Add-Padding: true')
    t.notOk(JSON.stringify(range.requests).includes(sha1(BREACHED).slice(5)), 'the rest of the hash never left')

    const padded = await app.inject({ method: 'POST', url: '/users/', payload: { username: 'padded', password: PADDED } })
    t.equal(padded.statusCode, 201, 'a suffix listed with count 0 (padding) is not a breach')
    const token = await login(app, { username: 'padded', password: PADDED })
    const change = await app.inject({ method: 'POST', url: '/users/me/password', headers: bearer(token), payload: { current_password: PADDED, new_password: BREACHED } })
    t.equal(change.statusCode, 422, 'a password change to a breached one')
    t.same(change.json(), { detail: [{ loc: ['body', 'new_password'], ...TOO_COMMON }] })
    const asked = range.requests.length
    t.equal((await requestToken(app, { username: 'padded', password: PADDED })).statusCode, 200, 'a login')
    t.equal(range.requests.length, asked, 'never asks the API')
  })
})

t.test('the API down: accepted with one warning; with failClosed, 503 and nothing stored', async (t) => {
  const range = await rangeServer(t)
  const down = range.url
  await range.close()
  const warnings: string[] = []
  const app = await buildApp(t, { pwnedPasswords: { url: down, timeoutMs: 2000 } })
  app.log.warn = ((fields: object, msg?: string) => { warnings.push(msg ?? '') }) as typeof app.log.warn
  for (const name of ['first', 'second']) {
    t.equal((await app.inject({ method: 'POST', url: '/users/', payload: { username: name, password: `${name}-long-password` } })).statusCode, 201, `${name}: accepted`)
  }
  await app.tokenAuth.hashPassword('a-third-long-password')
  t.ok(warnings.length <= 1, 'at most one warning for the outage', { warnings })

  const strict = await buildApp(t, { pwnedPasswords: { url: down, failClosed: true, timeoutMs: 2000 } })
  const res = await strict.inject({ method: 'POST', url: '/users/', payload: { username: 'strict', password: 'strict-long-password' } })
  t.equal(res.statusCode, 503)
  t.same(res.json(), { detail: 'Service unavailable' })
  t.equal(await strict.tokenAuth.users.findByUsername('strict'), undefined, 'nothing stored')
})
