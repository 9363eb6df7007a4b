import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { join } from 'node:path'
import { test } from 'tap'
import { freePort } from '../support/postgres.js'
import { dbEnv, startServer, tempDir } from '../src/process-helper.js'

// deploy/nginx.conf, the configuration docs/deployment.md recommends, run by Debian's nginx as a
// real reverse proxy in front of the real service: the limits count each client's own address,
// an X-Forwarded-For a client wrote itself counts for nothing, and /metrics stays inside.

const nginxBin = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((path) => existsSync(path))

interface Answer { status: number, body: string }

/** One request on a connection of its own; `from` is the loopback source address (Linux routes all of 127/8 to lo). */
async function send (port: number, opts: { method: string, path: string, from?: string, headers?: Record<string, string>, body?: string }): Promise<Answer> {
  return await new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port,
      localAddress: opts.from,
      method: opts.method,
      path: opts.path,
      headers: { connection: 'close', ...opts.headers },
      timeout: 10_000
    }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body }) })
    })
    req.on('error', reject)
    req.on('timeout', () => { req.destroy(new Error('timed out')) })
    req.end(opts.body)
  })
}

/** POST /token with wrong credentials from a given loopback source address. */
async function postToken (port: number, from: string, headers: Record<string, string> = {}): Promise<Answer> {
  return await send(port, {
    method: 'POST',
    path: '/token',
    from,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: 'username=nobody&password=wrong-password'
  })
}

async function get (port: number, path: string): Promise<Answer> {
  return await send(port, { method: 'GET', path })
}

test('behind deploy/nginx.conf the limits apply per real client address, and /metrics is not forwarded', { skip: nginxBin === undefined && process.env.CI === undefined ? 'nginx is not installed (apt-get install nginx)' : false }, async (t) => {
  if (nginxBin === undefined) throw new Error('nginx is not installed (.ci/run installs it)')
  const dir = await tempDir(t)
  const { port: servicePort, server } = await startServer(t, dbEnv(dir, { TRUST_PROXY: '127.0.0.1', RATE_LIMIT_TOKEN: '2/min', LOGIN_BACKOFF_AFTER: '0', METRICS: 'on' }))
  const proxyPort = await freePort()
  const site = (await readFile(join(import.meta.dirname, '../../deploy/nginx.conf'), 'utf8'))
    .replace('server 127.0.0.1:8000;', `server 127.0.0.1:${servicePort};`)
    .replace('listen 80;', `listen 127.0.0.1:${proxyPort};`)
  t.not(site.indexOf(String(proxyPort)), -1, 'the test listens where the recommended config does, on its own port')
  await writeFile(join(dir, 'site.conf'), site)
  await writeFile(join(dir, 'nginx.conf'), [
    'worker_processes 1;',
    `pid ${join(dir, 'nginx.pid')};`,
    'error_log stderr warn;',
    'events { worker_connections 64; }',
    'http {',
    '  access_log off;',
    `  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy;`,
    `  fastcgi_temp_path ${dir}/fastcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;`,
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
  for (let i = 0; ; i++) {
    const up = await postToken(proxyPort, '127.0.0.9').then(() => true, () => false)
    if (up) break
    if (i === 100 || nginx.exitCode !== null) throw new Error(`nginx did not start: ${nginxErr}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }

  const viaProxy = async (from: string, headers?: Record<string, string>) => (await postToken(proxyPort, from, headers)).status
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
    const answer = await get(proxyPort, path)
    t.same([answer.status, answer.body], [404, '{"detail": "Not Found"}'], `nginx does not forward ${path}`)
  }
  t.equal((await get(proxyPort, '/health')).status, 200, 'while it forwards the rest')

  const throttled = () => server.logLines().filter((line) => line.audit === 'request.throttled').map((line) => line.client)
  await server.waitFor('three request.throttled audit lines', () => throttled().length >= 3).catch(() => {})
  t.same(throttled(), ['127.0.0.2', '127.0.0.4', '127.0.0.5'], 'the log names each throttled client by its real address')
})
