import { randomBytes } from 'node:crypto'
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { BUILT_TREE, builtTree } from '../support/built-tree.js'
import { dbEnv, httpLogin, httpMe, httpRegister, startServer, tempDir } from './process-helper.js'

// `npm start` runs a single-file bundle of the server (dist/server.mjs, built by esbuild from
// the compiled sources) for a faster start-up. This test checks the build tap's `before` made
// as `npm start` would (in a copy of the work tree, so nothing else running meanwhile sees the
// repository's dist/ rewritten), and that what the bundle leaves out (native modules, packages
// that read files beside themselves) still works.

t.setTimeout(180_000)

const tree = BUILT_TREE
const built = await builtTree()

t.test('npm run build writes the bundle without warnings', async (t) => {
  t.equal(built.code, 0, 'the build succeeds', { output: built.output })
  t.equal(built.output.trim(), '', 'esbuild and tsc print nothing')
  t.ok((await stat(join(tree, 'dist', 'server.mjs'))).isFile(), 'dist/server.mjs exists')
})

t.test('the bundled service: login, the protected route, items, docs and a clean stop', { skip: built.code !== 0 && 'the build failed' }, async (t) => {
  const dir = await tempDir(t)
  const { server, base } = await startServer(t, dbEnv(dir, { JWT_SECRET: randomBytes(48).toString('base64url') }), { built: true, root: tree })
  const password = `pw-${randomBytes(12).toString('base64url')}`

  t.equal((await fetch(`${base}/health`)).status, 200, '/health answers')
  t.equal((await httpRegister(base, { username: 'bundled', password })).status, 201, 'registration (bcrypt, SQLite) works')
  const token = await httpLogin(base, 'bundled', password)
  const me = await httpMe(base, token)
  t.equal(me.status, 200)
  t.same(await me.json(), { username: 'bundled', email: null, email_verified: false, full_name: null, disabled: false }, '/users/me/ answers with the user')
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' }
  const created = await fetch(`${base}/users/me/items/`, { method: 'POST', headers, body: JSON.stringify({ title: 'from the bundle' }) })
  t.equal(created.status, 201, 'an item is created')

  // Swagger UI serves its files from its own package directory: they must be found from the bundle.
  const page = await fetch(`${base}/docs/`)
  t.equal(page.status, 200, '/docs/ answers')
  t.match(await page.text(), /swagger-ui/i, 'with the Swagger UI page')
  const script = await fetch(`${base}/docs/static/swagger-ui-bundle.js`)
  t.equal(script.status, 200, 'Swagger UI script is served')
  t.ok((await script.arrayBuffer()).byteLength > 100_000, 'in full')
  const redoc = await fetch(`${base}/redoc/redoc.standalone.js`)
  t.equal(redoc.status, 200, 'the ReDoc bundle is found from the bundled server')
  t.notMatch(await redoc.text(), /cdn\.redoc\.ly/, 'with its CDN logo replaced')
  const spec = await (await fetch(`${base}/openapi.json`)).json() as { info: { license?: { name: string } }, paths: Record<string, unknown>, components: { securitySchemes: Record<string, unknown> } }
  t.ok(spec.paths['/token'] !== undefined && spec.paths['/users/me/'] !== undefined, 'the OpenAPI document lists the routes')
  t.ok(spec.components.securitySchemes.OAuth2PasswordBearer !== undefined, 'and the OAuth2 password scheme')
  t.equal(spec.info.license?.name, 'MIT', 'and the licence, from the package.json the bundle finds above itself')

  const exit = await server.stop('SIGTERM')
  t.same(exit, { code: 0, signal: null }, 'SIGTERM stops it cleanly')
  t.notOk(server.output.includes(password), 'the password is never logged')
})

t.test('the bundle runs as a cluster primary with WORKERS=2', { skip: built.code !== 0 && 'the build failed' }, async (t) => {
  const dir = await tempDir(t)
  const { server, base } = await startServer(t, dbEnv(dir, { JWT_SECRET: randomBytes(48).toString('base64url'), WORKERS: '2' }), { built: true, root: tree })
  await server.waitFor('two workers listening', () => server.logLines().filter((line) => line.msg === 'worker listening').length === 2)
  const health = await (await fetch(`${base}/health`)).json() as { pid: number }
  t.not(health.pid, server.pid, 'a worker, not the primary, answers')
  const exit = await server.stop('SIGTERM', 20_000)
  t.same(exit, { code: 0, signal: null }, 'SIGTERM stops the primary and its workers cleanly')
})
