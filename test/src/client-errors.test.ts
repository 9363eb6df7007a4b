import { connect } from 'node:net'
import { Writable } from 'node:stream'
import Fastify, { type FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { countUsers } from '../../src/accounts/kysely-user-store.js'
import { serviceFastifyOptions } from '../../src/service/fastify-options.js'
import { fastifyLogger, loggableUrl } from '../../src/service/logger.js'
import service from '../../src/service/app.js'
import { bearer, buildApp, createUser, forEachEngine, johndoe, login, testSecret } from '../helper.js'

// What Node's HTTP layer refuses, and clients that go away, as the service answers and logs
// them: over a real socket, with the log captured at trace, the most it ever says.

const TOKEN = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJqb2huZG9lIn0.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg'
const PASSWORD = 'hunter2-the-password'

interface Logged { level: number, msg: string, [key: string]: unknown }

/** The service listening on loopback, its log captured from the moment it listens (its start-up lines left out). */
async function listening (t: Test, overrides: { requestTimeout?: number } = {}): Promise<{ app: FastifyInstance, port: number, lines: Logged[], text: () => string }> {
  const raw: string[] = []
  const sink = new Writable({ write (chunk, _encoding, done) { raw.push(String(chunk)); done() } })
  const app = Fastify({ ...serviceFastifyOptions('trace'), ...overrides, logger: { ...fastifyLogger('trace') as object, stream: sink } })
  await app.register(service, { secret: testSecret(), database: 'sqlite::memory:', bcryptCost: 4 })
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(async () => await app.close())
  const port = (app.server.address() as { port: number }).port
  await new Promise((resolve) => setImmediate(resolve))
  raw.length = 0
  return { app, port, get lines () { return raw.map((line) => JSON.parse(line) as Logged) }, text: () => raw.join('') }
}

/** Writes raw bytes, then reads whatever comes back until the server closes or `waitMs` passes. */
async function exchange (port: number, bytes: string, { waitMs = 500, hangUp = false } = {}): Promise<{ answer: string, ms: number }> {
  const started = performance.now()
  return await new Promise((resolve, reject) => {
    let answer = ''
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(bytes)
      if (hangUp) setTimeout(() => { socket.destroy(); resolve({ answer, ms: performance.now() - started }) }, 100)
    })
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => { answer += chunk })
    socket.on('error', reject)
    socket.on('close', () => { resolve({ answer, ms: performance.now() - started }) })
    setTimeout(() => { socket.destroy() }, waitMs)
  })
}

const statusOf = (answer: string) => Number(answer.split(' ')[1])
const bodyOf = (answer: string) => JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))

t.test("Node's HTTP layer: a {detail} answer, and no bytes of the request in the log", async (t) => {
  const { port, lines, text } = await listening(t)
  const cases = [
    ['a malformed header, a bearer token in the request', `GET /users/me/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nBad Header\r\n\r\n`, 400],
    ['a bad chunk size, a password in the form', `POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nusername=a&password=${PASSWORD}\r\n`, 400],
    ['headers of more than 16 KB', `GET /users/me/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431]
  ] as const
  for (const [what, bytes, status] of cases) {
    const { answer } = await exchange(port, bytes)
    t.equal(statusOf(answer), status, `${what}: ${status}`)
    t.match(answer, /content-type: application\/json/i, 'JSON')
    t.type(bodyOf(answer).detail, 'string', 'with a detail')
    t.same(Object.keys(bodyOf(answer)), ['detail'], 'and nothing else')
  }
  const log = text()
  t.notOk(log.includes(TOKEN), 'the bearer token is in no log line, at trace')
  t.notOk(log.includes(PASSWORD), 'nor the password')
  t.notOk(log.includes('rawPacket'), 'no raw packet is logged')
  t.same(lines.filter((line) => line.level >= 40), [], 'nothing at warn or above: these are the client\'s doing')
})

t.test('a client that goes away mid-body is not an error', async (t) => {
  const { port, lines } = await listening(t)
  await exchange(port, 'POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nusername=a&pass', { hangUp: true })
  await exchange(port, 'POST /users/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"username":', { hangUp: true })
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.same(lines.filter((line) => line.level >= 40).map((line) => line.msg), [], 'no line at warn or above, and no stack')
})

t.test('stalled headers are cut at requestTimeout, give or take a second', async (t) => {
  // The service's options with a short requestTimeout: Node checks it every second, not every 30.
  const { port } = await listening(t, { requestTimeout: 2000 })
  const { answer, ms } = await exchange(port, `GET /users/me/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\n`, { waitMs: 15_000 })
  t.equal(statusOf(answer), 408, '408')
  t.same(bodyOf(answer), { detail: 'The request did not arrive in time' })
  t.ok(ms < 6000, `answered after ${Math.round(ms)} ms: requestTimeout (2 s) plus at most the 1-s check interval, with room for a busy machine`)
})

t.test('a token in the path is masked in the log, not only one in the query', async (t) => {
  t.equal(loggableUrl(`/users/me/${TOKEN}`), '/users/me/[redacted]', 'a JWT')
  t.equal(loggableUrl('/users/me/q3Vn0d0vX9mT2wJfY8cKp1sR4uE6hA7bL5zN0xQyW2E/x'), '/users/me/[redacted]/x', 'a refresh token')
  t.equal(loggableUrl(`/a/${TOKEN}?limit=5`), '/a/[redacted]?limit=5', 'the query kept when it holds no credential')
  t.equal(loggableUrl('/users/me/sessions/n4bQgcGh1hZ3PmGH3nNk9A'), '/users/me/sessions/n4bQgcGh1hZ3PmGH3nNk9A', 'a session id stays')
  t.equal(loggableUrl('/users/me/items/42'), '/users/me/items/42')
  t.equal(loggableUrl('/files/file.tar.gz'), '/files/file.tar.gz', 'a dotted name is not a JWT')
  const { port, text } = await listening(t)
  await exchange(port, `GET /users/me/${TOKEN} HTTP/1.1\r\nHost: x\r\n\r\n`)
  t.notOk(text().includes(TOKEN), 'the request line logged at info holds no token')
  t.match(text(), /"url":"\/users\/me\/\[redacted\]"/)
})

t.test("the router's refusals answer {detail} without echoing the path", async (t) => {
  const app = await buildApp(t)
  for (const url of ['/users/me/items/%zz', '/%E0%A4%A', '/health/%']) {
    const res = await app.inject({ url })
    t.equal(res.statusCode, 400, `${url}: 400`)
    t.same(res.json(), { detail: 'The URL is malformed: a percent-escape does not decode' }, `${url}: a detail, and not the path`)
  }
  const long = await app.inject({ method: 'DELETE', url: `/users/me/sessions/${'a'.repeat(200)}` })
  t.equal(long.statusCode, 414)
  t.same(long.json(), { detail: 'A path parameter is too long' })
})

t.test('a session id that is not base64url is a 422, on either engine', async (t) => {
  forEachEngine(t, async (t, engine) => {
    const app = await buildApp(t, {}, engine)
    await createUser(app, johndoe)
    const token = await login(app, johndoe)
    for (const id of ['%00', 'a%00b', 'a%20b']) {
      const res = await app.inject({ method: 'DELETE', url: `/users/me/sessions/${id}`, headers: bearer(token) })
      t.equal(res.statusCode, 422, `${id}: 422`)
      t.equal(res.json().detail[0].loc.join('.'), 'path.session_id', `${id}: naming the parameter`)
    }
    t.equal((await app.inject({ method: 'DELETE', url: '/users/me/sessions/AAAAAAAAAAAAAAAAAAAAAA', headers: bearer(token) })).statusCode, 404, 'a well-formed unknown id: 404')
  })
})

t.test('a request followed by garbage on its connection is answered, then the garbage refused', async (t) => {
  const { app, port } = await listening(t)
  const body = JSON.stringify({ username: 'pipelined', password: 'a-long-enough-password' })
  const request = `POST /users/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  // One write: the registration, then bytes that are no HTTP request.
  const { answer } = await exchange(port, `${request}\x00\x01 not HTTP at all\r\n\r\n`, { waitMs: 10_000 })
  const responses = answer.split(/(?=HTTP\/1\.1 )/)
  t.equal(responses.length, 2, 'two responses, in order', { answer })
  t.equal(statusOf(responses[0] ?? ''), 201, 'first the registration: 201')
  t.equal(bodyOf(responses[0] ?? '').username, 'pipelined', 'with its body')
  t.equal(statusOf(responses[1] ?? ''), 400, 'then the garbage: 400')
  t.same(bodyOf(responses[1] ?? ''), { detail: 'Malformed HTTP request' })
  t.match(responses[1], /connection: close/i, 'and the connection closed')
  t.equal(await countUsers(app.db), 1, 'the account was stored, once')
  t.ok(await app.tokenAuth.users.findByUsername('pipelined'), 'under its name')
})
