import { connect, type Socket } from 'node:net'
import { Writable } from 'node:stream'
import Fastify, { type FastifyServerOptions } from 'fastify'
import t, { type Test } from 'tap'
import { serviceFastifyOptions } from '../../src/service/fastify-options.js'
import { fastifyLogger } from '../../src/service/logger.js'
import service, { type ServiceOptions } from '../../src/service/app.js'
import { testSecret } from '../helper.js'

// A request body that stops arriving is cut at the body deadline: 408 {"detail"} when nothing
// was answered yet, and the connection closed. Over real sockets, with a deadline of a second;
// the bound checked is generous (a busy machine is no failure), and far below the 30 s default.

const DEADLINE_MS = 1000
const GENEROUS_MS = 15_000

interface Logged { level: number, msg: string }

/** The service listening on loopback, with its log captured at debug from the moment it listens. */
async function listening (t: Test, opts: Partial<ServiceOptions> = { bodyTimeout: DEADLINE_MS }, fastifyOptions: FastifyServerOptions = {}) {
  const lines: Logged[] = []
  const sink = new Writable({ write (chunk, _encoding, done) { lines.push(JSON.parse(String(chunk)) as Logged); done() } })
  const app = Fastify({ ...serviceFastifyOptions('debug'), ...fastifyOptions, logger: { ...fastifyLogger('debug') as object, stream: sink } })
  await app.register(service, { secret: testSecret(), database: 'sqlite::memory:', bcryptCost: 4, ...opts })
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(async () => await app.close())
  // Start-up lines (no users yet, listening) are not the requests'.
  await new Promise((resolve) => setImmediate(resolve))
  lines.length = 0
  return { port: (app.server.address() as { port: number }).port, lines }
}

interface Exchange {
  /** Everything the server sent. */
  answer: string
  /** Whether the server closed the connection (rather than the test giving up on it). */
  closed: boolean
  ms: number
}

/** Connects, lets `talk` write, and collects the answer until the server closes or `giveUpMs` passes. */
async function exchange (port: number, talk: (socket: Socket) => void, giveUpMs = GENEROUS_MS): Promise<Exchange> {
  const started = performance.now()
  return await new Promise((resolve, reject) => {
    let answer = ''
    let closed = true
    const socket = connect(port, '127.0.0.1', () => { talk(socket) })
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => { answer += chunk })
    socket.on('error', reject)
    socket.on('close', () => { clearTimeout(giveUp); resolve({ answer, closed, ms: performance.now() - started }) })
    const giveUp = setTimeout(() => { closed = false; socket.destroy() }, giveUpMs)
  })
}

const statusOf = (answer: string) => Number(answer.split(' ')[1])
const bodyOf = (answer: string) => JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))
const headersOf = (answer: string) => answer.slice(0, answer.indexOf('\r\n\r\n')).toLowerCase()

const FORM_HEAD = 'POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n'

t.test('a body that stops arriving: 408 with a detail, and the connection closed', async (t) => {
  const { port, lines } = await listening(t)
  const { answer, closed, ms } = await exchange(port, (socket) => {
    socket.write(`${FORM_HEAD}Content-Length: 100\r\n\r\nusername=a`)
  })
  t.ok(closed, `the server closed the connection (after ${Math.round(ms)} ms, well within ${GENEROUS_MS})`)
  t.equal(statusOf(answer), 408, '408')
  t.same(bodyOf(answer), { detail: 'The request body did not arrive in time' })
  t.match(headersOf(answer), /\r\nconnection: close\r\n/, 'Connection: close')
  t.match(headersOf(answer), /\r\ncontent-type: application\/json/, 'JSON')
  t.same(lines.filter((line) => line.level >= 40).map((line) => line.msg), [], 'nothing at warn or above: the client\'s doing')
  t.ok(lines.some((line) => line.level === 20 && line.msg === 'request body timed out'), 'a debug line says why')
})

t.test('a chunked body that stops arriving, on a JSON route: the same', async (t) => {
  const { port } = await listening(t)
  const { answer, closed } = await exchange(port, (socket) => {
    socket.write('POST /users/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"use\r\n')
  })
  t.ok(closed, 'the server closed the connection')
  t.equal(statusOf(answer), 408, '408')
  t.same(bodyOf(answer), { detail: 'The request body did not arrive in time' })
})

t.test('a body that trickles in, a byte at a time, is cut at the deadline too', async (t) => {
  const { port } = await listening(t)
  let drip: NodeJS.Timeout | undefined
  const { answer, closed } = await exchange(port, (socket) => {
    socket.write(`${FORM_HEAD}Content-Length: 1000\r\n\r\n`)
    drip = setInterval(() => { if (socket.writable) socket.write('a') }, 100)
  })
  clearInterval(drip)
  t.ok(closed, 'the server closed the connection')
  t.equal(statusOf(answer), 408, '408: the deadline counts from the headers, not from the last byte')
})

t.test('answered before its body (a guard refused it), a stalled request still loses its connection', async (t) => {
  const { port } = await listening(t)
  const { answer, closed } = await exchange(port, (socket) => {
    socket.write('POST /users/me/items/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"title"')
  })
  t.ok(closed, 'the server closed the connection')
  t.equal(statusOf(answer), 401, 'the guard\'s 401, and no second answer')
  t.equal(answer.match(/HTTP\/1\.1 /g)?.length, 1, 'one answer')
})

t.test('the deadline defaults to the server\'s requestTimeout', async (t) => {
  const { port } = await listening(t, {}, { requestTimeout: DEADLINE_MS })
  const { answer, closed } = await exchange(port, (socket) => {
    socket.write(`${FORM_HEAD}Content-Length: 100\r\n\r\nusername=a`)
  })
  t.ok(closed, 'the server closed the connection')
  t.equal(statusOf(answer), 408, '408')
})

t.test('bodies that arrive whole are untouched, and the connection outlives the deadline', async (t) => {
  const { port } = await listening(t)
  const form = 'username=nobody&password=nothing-here'
  const request = `${FORM_HEAD}Content-Length: ${form.length}\r\n\r\n${form}`
  const { answer, closed } = await exchange(port, (socket) => {
    let seen = ''
    let asked = 1
    socket.write(request)
    socket.on('data', (chunk: string) => {
      seen += chunk
      const answers = seen.match(/HTTP\/1\.1 /g)?.length ?? 0
      // After the first answer, wait past the deadline, then ask again on the same connection.
      if (answers === 1 && asked === 1) {
        asked = 2
        setTimeout(() => { socket.write(request) }, DEADLINE_MS * 2)
      } else if (answers === 2 && seen.endsWith('}')) {
        socket.end()
      }
    })
  })
  t.ok(closed, 'the test ended the connection itself')
  t.equal(answer.match(/HTTP\/1\.1 401 /g)?.length, 2, 'two 401s (no such user), the second after the deadline had passed')
  t.notMatch(answer, /408/, 'no 408')
})

t.test('a body split across packets but complete in time is read as usual', async (t) => {
  const { port } = await listening(t)
  const { answer } = await exchange(port, (socket) => {
    socket.write(`${FORM_HEAD}Connection: close\r\nContent-Length: 37\r\n\r\nusername=nobody`)
    setTimeout(() => { socket.write('&password=nothing-here') }, 100)
  })
  t.equal(statusOf(answer), 401, 'the login was read whole and refused (no such user)')
  t.match(bodyOf(answer), { error: 'invalid_grant' })
})

t.test('bodyTimeout 0 sets no deadline; a bad value stops start-up', async (t) => {
  const { port } = await listening(t, { bodyTimeout: 0 })
  const { answer, closed } = await exchange(port, (socket) => {
    socket.write(`${FORM_HEAD}Content-Length: 100\r\n\r\nusername=a`)
  }, DEADLINE_MS * 3)
  t.notOk(closed, 'still open when the test gave up')
  t.equal(answer, '', 'nothing answered')
  const app = Fastify({ logger: false })
  t.teardown(async () => await app.close())
  await t.rejects(async () => {
    await app.register(service, { secret: testSecret(), database: 'sqlite::memory:', bodyTimeout: -1 })
    await app.ready()
  }, /timeout must be a whole number/)
})
