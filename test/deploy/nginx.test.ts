import { execFile, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { connect as tcpConnect, createServer, type Socket } from 'node:net'
import { connect as tlsConnect, type SecureVersion } from 'node:tls'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { test, type Test } from 'tap'
import { freePort } from '../support/postgres.js'
import { dbEnv, startServer, tempDir } from '../src/process-helper.js'

// deploy/nginx.conf, the configuration docs/deployment.md recommends, run by Debian's nginx as a
// real reverse proxy in front of the real service: TLS as Mozilla's intermediate profile has it,
// the limits count each client's own address, an X-Forwarded-For a client wrote itself counts for
// nothing, /metrics stays inside, and nginx's own errors answer JSON without nginx's version.

const nginxBin = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((path) => existsSync(path))
const skip = nginxBin === undefined && process.env.CI === undefined ? 'nginx is not installed (apt-get install nginx)' : false
const run = promisify(execFile)
const SITE = join(import.meta.dirname, '../../deploy/nginx.conf')

interface Answer { status: number, headers: IncomingHttpHeaders, body: string }

interface Proxy {
  /** The plain-HTTP port (the config's 80) and the TLS port (its 443). */
  http: number
  https: number
  /** The self-signed certificate nginx presents for 127.0.0.1, the clients' only CA. */
  ca: string
}

/** `text` with `from` replaced by `to`; throws when deploy/nginx.conf no longer has `from`. */
function edit (text: string, from: string | RegExp, to: string, count = 1): string {
  const pattern = typeof from === 'string' ? from : new RegExp(from.source, `${from.flags.replace('g', '')}g`)
  const found = typeof pattern === 'string' ? text.split(pattern).length - 1 : [...text.matchAll(pattern)].length
  if (found !== count) throw new Error(`deploy/nginx.conf has ${found} of ${String(from)}, the test expects ${count}`)
  return text.replaceAll(pattern, to)
}

/**
 * Debian's nginx with deploy/nginx.conf on loopback ports of its own, in front of `upstreamPort`,
 * its certificate a fresh self-signed one for 127.0.0.1. `site` edits the config further and
 * `http` adds lines to nginx's http context. Stopped when the test ends.
 */
async function startNginx (t: Test, dir: string, upstreamPort: number, opts: { site?: (text: string) => string, http?: string[] } = {}): Promise<Proxy> {
  if (nginxBin === undefined) throw new Error('nginx is not installed (.ci/run installs it)')
  await mkdir(dir, { recursive: true })
  const [cert, key] = [join(dir, 'cert.pem'), join(dir, 'key.pem')]
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert])
  const [http, https] = [await freePort(), await freePort()]
  let site = await readFile(SITE, 'utf8')
  site = edit(site, 'server 127.0.0.1:8000;', `server 127.0.0.1:${upstreamPort};`)
  site = edit(site, 'listen 80;', `listen 127.0.0.1:${http};`)
  site = edit(site, 'listen 443 ssl;', `listen 127.0.0.1:${https} ssl;`)
  // The test machine may have no IPv6.
  site = edit(site, /^ *listen \[::\]:\d+( ssl)?;\n/m, '', 2)
  site = edit(site, /ssl_certificate \S+;/, `ssl_certificate ${cert};`)
  site = edit(site, /ssl_certificate_key \S+;/, `ssl_certificate_key ${key};`)
  site = opts.site?.(site) ?? site
  await writeFile(join(dir, 'site.conf'), site)
  await writeFile(join(dir, 'nginx.conf'), [
    'worker_processes 1;',
    // Under root nginx's workers would be nobody, shut out of the test's private directory.
    ...(process.getuid?.() === 0 ? ['user root;'] : []),
    `pid ${join(dir, 'nginx.pid')};`,
    'error_log stderr warn;',
    'events { worker_connections 64; }',
    'http {',
    '  access_log off;',
    `  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy;`,
    `  fastcgi_temp_path ${dir}/fastcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;`,
    ...(opts.http ?? []),
    `  include ${join(dir, 'site.conf')};`,
    '}'
  ].join('\n'))
  const nginx = spawn(nginxBin, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let nginxErr = ''
  nginx.stderr.on('data', (chunk: Buffer) => { nginxErr += chunk.toString() })
  t.teardown(async () => {
    if (nginx.exitCode !== null) return
    await new Promise((resolve) => { nginx.once('exit', resolve); nginx.kill('SIGQUIT') })
  })
  const listening = async (port: number) => await new Promise<boolean>((resolve) => {
    const socket = tcpConnect(port, '127.0.0.1', () => { socket.destroy(); resolve(true) })
    socket.on('error', () => { resolve(false) })
  })
  for (let i = 0; !(await listening(http) && await listening(https)); i++) {
    if (i === 100 || nginx.exitCode !== null) throw new Error(`nginx did not start: ${nginxErr}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  t.equal(nginxErr, '', 'nginx starts without a warning')
  return { http, https, ca: await readFile(cert, 'utf8') }
}

/**
 * One request on a connection of its own, over TLS to `proxy.https` (or plain to `port`);
 * `from` is the loopback source address (Linux routes all of 127/8 to lo).
 */
async function send (to: Proxy | number, opts: { method: string, path: string, from?: string, headers?: Record<string, string>, body?: string }): Promise<Answer> {
  return await new Promise((resolve, reject) => {
    const common = {
      host: '127.0.0.1',
      localAddress: opts.from,
      method: opts.method,
      path: opts.path,
      headers: { connection: 'close', ...opts.headers },
      timeout: 10_000
    }
    const onAnswer = (res: IncomingMessage) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body }) })
    }
    const req = typeof to === 'number'
      ? httpRequest({ ...common, port: to }, onAnswer)
      : httpsRequest({ ...common, port: to.https, ca: to.ca }, onAnswer)
    req.on('error', reject)
    req.on('timeout', () => { req.destroy(new Error('timed out')) })
    req.end(opts.body)
  })
}

/** POST /token with wrong credentials from a given loopback source address. */
async function postToken (to: Proxy | number, from: string, headers: Record<string, string> = {}, body = 'username=nobody&password=wrong-password'): Promise<Answer> {
  return await send(to, {
    method: 'POST',
    path: '/token',
    from,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body
  })
}

async function get (to: Proxy | number, path: string, from?: string): Promise<Answer> {
  return await send(to, { method: 'GET', path, from })
}

const HSTS = 'max-age=63072000'

/** An answer nginx wrote itself: JSON with a detail like the service's, and nothing that names nginx's version. */
function nginxJson (t: Test, answer: Answer, status: number, detail: RegExp, what: string): void {
  t.equal(answer.status, status, `${what}: ${status}`)
  t.equal(answer.headers['content-type'], 'application/json', `${what}: JSON`)
  let body: unknown
  t.doesNotThrow(() => { body = JSON.parse(answer.body) }, `${what}: the body parses as JSON`, { body: answer.body })
  t.match(body, { detail }, `${what}: a detail that says what happened`)
  t.equal(answer.headers.server, 'nginx', `${what}: the Server header names no version`)
  t.notMatch(answer.body, /nginx|<html/i, `${what}: the body names neither nginx nor its version`)
  t.equal(answer.headers['strict-transport-security'], HSTS, `${what}: HSTS`)
}

test('behind deploy/nginx.conf the limits apply per real client address, and /metrics is not forwarded', { skip }, async (t) => {
  const dir = await tempDir(t)
  const { port: servicePort, server } = await startServer(t, dbEnv(dir, { TRUST_PROXY: '127.0.0.1', RATE_LIMIT_TOKEN: '2/min', LOGIN_BACKOFF_AFTER: '0', METRICS: 'on' }))
  const proxy = await startNginx(t, join(dir, 'nginx'), servicePort)

  const viaProxy = async (from: string, headers?: Record<string, string>) => (await postToken(proxy, from, headers)).status
  t.same([await viaProxy('127.0.0.2'), await viaProxy('127.0.0.2'), await viaProxy('127.0.0.2')], [401, 401, 429],
    'one client through nginx: two attempts, then 429')
  t.same([await viaProxy('127.0.0.3'), await viaProxy('127.0.0.3')], [401, 401], 'another client through the same nginx has its own allowance')
  t.equal(await viaProxy('127.0.0.4', { 'x-forwarded-for': '127.0.0.3' }), 401,
    'a client claiming another\'s address in X-Forwarded-For is counted as itself')
  t.equal(await viaProxy('127.0.0.4', { 'x-forwarded-for': '10.9.8.7' }), 401, 'its second request, under yet another claim')
  t.equal(await viaProxy('127.0.0.4', { 'x-forwarded-for': '10.9.8.6' }), 429, 'its third: over its own limit, whatever it claims')

  const direct = async (headers: Record<string, string>) => (await postToken(servicePort, '127.0.0.5', headers)).status
  t.same([await direct({ 'x-forwarded-for': '192.0.2.1' }), await direct({ 'x-forwarded-for': '192.0.2.2' }), await direct({ 'x-forwarded-for': '192.0.2.3' })],
    [401, 401, 429], 'a direct client (not the trusted proxy) is counted by its own address, X-Forwarded-For ignored')

  // The service answers /metrics on its own port; nginx does not forward it, however it is spelled
  // (the body with a space is nginx's own: the service writes its JSON without one).
  t.equal((await get(servicePort, '/metrics')).status, 200, 'the service itself answers /metrics')
  for (const path of ['/metrics', '/metrics/', '/metrics?format=text', '//metrics', '/%6detrics']) {
    const answer = await get(proxy, path)
    t.same([answer.status, answer.body], [404, '{"detail": "Not Found"}'], `nginx does not forward ${path}`)
  }
  const health = await get(proxy, '/health')
  t.equal(health.status, 200, 'while it forwards the rest')
  t.same([health.headers['strict-transport-security'], health.headers.server], [HSTS, 'nginx'],
    'the service\'s answer carries nginx\'s one HSTS header and no nginx version')

  const throttled = () => server.logLines().filter((line) => line.audit === 'request.throttled').map((line) => line.client)
  await server.waitFor('three request.throttled audit lines', () => throttled().length >= 3).catch(() => {})
  t.same(throttled(), ['127.0.0.2', '127.0.0.4', '127.0.0.5'], 'the log names each throttled client by its real address')
})

test('deploy/nginx.conf serves TLS 1.2 and 1.3 with forward-secret AEAD ciphers only, and redirects plain HTTP', { skip }, async (t) => {
  const dir = await tempDir(t)
  const { port: servicePort } = await startServer(t, dbEnv(dir))
  const proxy = await startNginx(t, join(dir, 'nginx'), servicePort)

  const handshake = async (opts: { minVersion?: SecureVersion, maxVersion?: SecureVersion, ciphers?: string }) =>
    await new Promise<{ protocol: string | null, cipher: string } | Error>((resolve) => {
      const socket = tlsConnect({ host: '127.0.0.1', port: proxy.https, ca: proxy.ca, ...opts }, () => {
        resolve({ protocol: socket.getProtocol(), cipher: socket.getCipher().name })
        socket.destroy()
      })
      socket.on('error', resolve)
    })
  t.match(await handshake({ minVersion: 'TLSv1.3' }), { protocol: 'TLSv1.3' }, 'a TLS 1.3 client connects')
  t.match(await handshake({ maxVersion: 'TLSv1.2' }), { protocol: 'TLSv1.2', cipher: /^ECDHE-ECDSA-(AES\d+-GCM-SHA\d+|CHACHA20-POLY1305)$/ },
    'a TLS 1.2 client gets an ECDHE key exchange and an AEAD cipher')
  t.type(await handshake({ maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA:AES128-SHA' }), Error,
    'a TLS 1.2 client offering CBC ciphers only is refused')

  const plain = await get(proxy.http, '/health')
  t.same([plain.status, plain.headers.location], [301, 'https://127.0.0.1/health'], 'plain HTTP is redirected to HTTPS')
  t.equal(plain.headers.server, 'nginx', 'and names no nginx version')
})

/** What nginx answers to `request`, written as is over TLS (or plain TCP to the TLS port with `plain`). */
async function raw (proxy: Proxy, request: string, plain = false): Promise<Answer> {
  return await new Promise((resolve, reject) => {
    const socket = plain
      ? tcpConnect({ host: '127.0.0.1', port: proxy.https }, () => { socket.write(request) })
      : tlsConnect({ host: '127.0.0.1', port: proxy.https, ca: proxy.ca }, () => { socket.write(request) })
    let text = ''
    socket.setEncoding('utf8')
    socket.setTimeout(10_000, () => { socket.destroy(new Error('timed out')) })
    socket.on('data', (chunk: string) => { text += chunk })
    socket.on('error', reject)
    socket.on('close', () => {
      const [head = '', body = ''] = text.split('\r\n\r\n')
      const [statusLine = '', ...lines] = head.split('\r\n')
      const headers: IncomingHttpHeaders = {}
      for (const line of lines) headers[line.slice(0, line.indexOf(':')).toLowerCase()] = line.slice(line.indexOf(':') + 1).trim()
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body })
    })
  })
}

test('nginx\'s own 400, 413, 414, 431, 502, 503 and 504 answer JSON with a detail, like the service', { skip }, async (t) => {
  const dir = await tempDir(t)

  // The real service: a body over nginx's limit never reaches it; one over the service's own
  // limit (4 to 12 KB on /token) gets the service's 413, unchanged.
  const { port: servicePort } = await startServer(t, dbEnv(dir))
  const proxy = await startNginx(t, join(dir, 'nginx-service'), servicePort)
  nginxJson(t, await raw(proxy, 'GET /health HTTP/1.1 extra\r\nHost: 127.0.0.1\r\n\r\n'), 400, /^Malformed HTTP request$/, 'a malformed request line')
  nginxJson(t, await raw(proxy, 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n', true), 400, /^Malformed HTTP request$/,
    'plain HTTP sent to the TLS port')
  nginxJson(t, await get(proxy, `/health?${'q'.repeat(9000)}`), 414, /^The request URI is too long/, 'a 9 KB URI')
  nginxJson(t, await send(proxy, { method: 'GET', path: '/health', headers: { 'x-big': 'h'.repeat(9000) } }), 431, /^A request header is too large/,
    'a 9 KB header')
  nginxJson(t, await postToken(proxy, '127.0.0.2', {}, 'x'.repeat(200_000)), 413, /^The request body is too large/, 'a 200 KB body')
  const serviceOwn = await postToken(proxy, '127.0.0.2', {}, 'x'.repeat(20_000))
  t.match([serviceOwn.status, JSON.parse(serviceOwn.body)], [413, { detail: 'Request body is too large', error: 'invalid_request' }],
    'a 20 KB body gets the service\'s own 413')

  // The service stopped: nothing listens on its port, nginx's connection is refused.
  const stopped = await startNginx(t, join(dir, 'nginx-stopped'), await freePort())
  nginxJson(t, await get(stopped, '/health'), 502, /^The service is unavailable/, 'the service stopped')

  // A service that takes the connection and never answers; in this copy nginx waits 1 s, not 60,
  // and admits one request at a time per client address (a limit_conn an operator may add).
  const held = new Set<Socket>()
  const silent = createServer((socket) => { held.add(socket) })
  await new Promise<void>((resolve) => { silent.listen(0, '127.0.0.1', resolve) })
  t.teardown(async () => {
    for (const socket of held) socket.destroy()
    await new Promise((resolve) => silent.close(resolve))
  })
  const silentPort = (silent.address() as { port: number }).port
  const slow = await startNginx(t, join(dir, 'nginx-silent'), silentPort, {
    http: ['  limit_conn_zone $binary_remote_addr zone=perclient:1m;'],
    site: (text) => edit(edit(text, 'proxy_read_timeout 60s;', 'proxy_read_timeout 1s;'),
      'client_body_timeout 10s;', 'client_body_timeout 10s;\n    limit_conn perclient 1;')
  })
  const first = get(slow, '/health', '127.0.0.3')
  for (let i = 0; held.size === 0; i++) {
    if (i === 100) throw new Error('nginx did not forward the request')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  const second = await get(slow, '/health', '127.0.0.3')
  nginxJson(t, second, 503, /^The service is unavailable: try again/, 'a second request while the first is in flight, over limit_conn')
  t.equal(second.headers['retry-after'], '10', 'the 503 says when to retry')
  nginxJson(t, await first, 504, /^The service did not answer in time$/, 'a service that never answers')
})
