import { readdirSync, readFileSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import SQLite from 'better-sqlite3'
import Fastify, { type LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import tokenAuth, { backupSqliteDatabase, createDatabase, errors, type ErrorAnswer, type ErrorEntry, type TokenAuthOptions } from '../../src/index.js'
import { answerBody } from '../../src/errors.js'
import { serviceErrors } from '../../src/service/errors.js'
import { ERRORS_DOCUMENT, REGENERATE_ERRORS, renderErrorTable, withErrorTable } from '../../scripts/error-docs.js'
import { bearer, buildApp, createUser, johndoe, login, testSecret } from '../helper.js'
import { tempDir } from '../src/process-helper.js'
import { DOCS_MAIL, operationsOf, pluginDocument, serviceDocument, type Json } from './openapi-support.js'

// The error table is the one source of every error: the OpenAPI examples, the answers on the
// wire, the codes thrown to a host and docs/errors.md all agree with it.

const root = resolve(import.meta.dirname, '../..')
const packageEntries = Object.values<ErrorEntry>(errors)
const allEntries = [...packageEntries, ...Object.values<ErrorEntry>(serviceErrors)]

/** A `detail` the entry can answer: its pattern, each `{name}` standing for any text. */
function fits (entry: ErrorEntry, detail: string): boolean {
  const escaped = entry.pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\\\{[a-z]+\\\}/gi, '.+')
  return new RegExp(`^${escaped}$`).test(detail)
}

/** Whether a status key of the document (`401`, `4XX`) covers the entry's status. */
const covers = (key: string, status: number) => key.length === 3 && key.endsWith('XX') ? String(status)[0] === key[0] : key === String(status)

t.test('every code is FST_TOKEN_AUTH_ and its own, every entry says when and has an example that fits', async (t) => {
  t.equal(new Set(allEntries.map((entry) => entry.code)).size, allEntries.length, 'no code twice')
  for (const entry of allEntries) {
    t.match(entry.code, /^FST_TOKEN_AUTH_[A-Z_]+$/, entry.code)
    t.ok(entry.when.length > 20 && entry.summary.length > 3, `${entry.code} says when`)
    const detail = entry.detail(...entry.example)
    if (typeof detail === 'string') t.ok(fits(entry, detail), `${entry.code}: its example fits its pattern`)
    const thrown = entry.create(...entry.example)
    t.equal(thrown.code, entry.code, `${entry.code}: a thrown one has its code`)
    t.equal(thrown.statusCode, entry.statusCode)
    t.ok(entry.is(thrown) && !entry.is(new Error(thrown.message)), `${entry.code}: is() knows its own`)
  }
})

/** The examples of a document: its error responses', by status, and its shared schemas' own. */
function examplesOf (doc: Json): Array<{ at: string, status: string | undefined, value: Json }> {
  const found: Array<{ at: string, status: string | undefined, value: Json }> = []
  for (const { name, operation } of operationsOf(doc)) {
    for (const [status, response] of Object.entries<Json>(operation.responses)) {
      if (Number(status[0]) < 4) continue
      const examples = Object.entries<Json>(response.content?.['application/json']?.examples ?? {})
      // Each error status shows what it answers.
      if (examples.length === 0) found.push({ at: `${name} ${status}`, status, value: {} })
      for (const [key, example] of examples) found.push({ at: `${name} ${status} ${key}`, status, value: example.value })
    }
  }
  for (const schema of ['TokenAuth.HTTPError', 'TokenAuth.OAuth2Error']) {
    for (const [i, value] of (doc.components.schemas[schema].examples as Json[]).entries()) found.push({ at: `${schema} example ${i}`, status: undefined, value })
  }
  return found
}

/** Why an example is not an answer of the table, or undefined when it is one; `seen` collects the entries shown. */
function problemWith (status: string | undefined, value: Json, seen: Set<string>): string | undefined {
  // CLIENT_ERROR words any message of Fastify's: never an example of the table's own.
  const candidates = allEntries.filter((entry) => entry !== errors.CLIENT_ERROR && (status === undefined || covers(status, entry.statusCode)))
  if (Array.isArray(value.detail)) {
    if (!candidates.includes(errors.VALIDATION)) return 'a list of issues where no 422 is answered'
    const issuesOk = value.detail.length > 0 && value.detail.every((issue: Json) => Array.isArray(issue.loc) && typeof issue.msg === 'string' && typeof issue.type === 'string')
    seen.add(errors.VALIDATION.code)
    return issuesOk ? undefined : 'malformed issues'
  }
  if (typeof value.detail !== 'string') return 'no detail'
  const entry = candidates.find((candidate) => fits(candidate, value.detail) && (value.error === undefined || candidate.error === value.error))
  if (entry === undefined) return `"${String(value.detail)}"${value.error === undefined ? '' : ` (${String(value.error)})`} is no entry's of status ${status ?? 'any'}`
  seen.add(entry.code)
  const keys = Object.keys(value).sort().join()
  if (value.error === undefined) return keys === 'detail' ? undefined : `fields ${keys}`
  // The password grant's mfa_required carries the second step's token beside the error.
  const expected = entry === errors.MFA_REQUIRED ? 'detail,error,error_description,mfa_token' : 'detail,error,error_description'
  return keys === expected && value.error_description === value.detail ? undefined : `OAuth2 fields ${keys}`
}

t.test('every error example of the OpenAPI documents is an entry of the table, for its status', async (t) => {
  const seen = new Set<string>()
  // With mail and requireVerifiedEmail: the recovery operations and the token endpoint's 403.
  const service = (await serviceDocument(t, { mail: DOCS_MAIL, requireVerifiedEmail: true })).doc
  for (const [label, doc] of [['service', service], ['plugin', await pluginDocument(t, '/auth')]] as const) {
    const examples = examplesOf(doc)
    t.ok(examples.length > 60, `${label}: ${examples.length} error examples`)
    for (const { at, status, value } of examples) t.equal(problemWith(status, value, seen), undefined, `${label}: ${at}`)
  }
  // Every entry the plugin answers on an operation is shown somewhere.
  const undocumented = packageEntries.filter((entry) => entry.use === 'answer' && !seen.has(entry.code)).map((entry) => entry.code)
  t.same(undocumented.sort(), ['FST_TOKEN_AUTH_CLIENT_ERROR', 'FST_TOKEN_AUTH_INTERNAL'], 'the others all have an example')
  t.ok(seen.has(serviceErrors.ITEM_NOT_FOUND.code), "the service's own entry too")

  t.test('and the checks refuse what is not', async (t) => {
    const refused = [
      ['401', { detail: 'Not Authenticated' }],
      ['400', { detail: 'Not authenticated' }],
      ['400', { detail: 'Inactive user', error: 'invalid_request', error_description: 'Inactive user' }],
      ['400', { detail: 'Missing required field: token', error: 'invalid_request' }],
      ['404', { detail: 'Not Found', code: 'FST_TOKEN_AUTH_NOT_FOUND' }],
      ['404', { detail: [{ loc: ['path'], msg: 'x', type: 'y' }] }]
    ] as const
    for (const [status, value] of refused) t.not(problemWith(status, value, new Set()), undefined, `${status} ${JSON.stringify(value)}`)
    t.equal(problemWith('429', { detail: 'Too many requests: retry in 7 s', error: 'invalid_request', error_description: 'Too many requests: retry in 7 s' }, new Set()), undefined)
  })
})

const sourcesOf = (dir: string) => readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
  .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
  .map((entry) => relative(root, join(entry.parentPath, entry.name)))

t.test('every entry is given by the package, or marked for a host and given by the service', async (t) => {
  const files = ['src', 'plugins', 'routes'].flatMap(sourcesOf).filter((file) => file !== 'src/errors.ts')
  const text = (inService: boolean) => files.filter((file) => file.startsWith('src/service/') === inService)
    .map((file) => readFileSync(join(root, file), 'utf8')).join('\n')
  const [pkg, service] = [text(false), text(true)]
  const used = (source: string, entry: ErrorEntry) => new RegExp(`\\.${entry.name}\\b`).test(source)
  for (const entry of packageEntries) {
    if (entry.use === 'host') t.ok(used(service, entry) || used(pkg, entry), `${entry.code} (for a host) is given by the service or the package`)
    else t.ok(used(pkg, entry), `${entry.code} is given by the package`)
  }
  for (const entry of Object.values<ErrorEntry>(serviceErrors)) t.ok(used(service, entry), `${entry.code} is given by the service`)
})

/** The response is the entry's answer: status, body (RFC 6749's with `oauth2`) and every header of the entry. */
function answers (t: Test, response: LightMyRequestResponse, answer: ErrorAnswer, { oauth2 = false } = {}): void {
  const what = answer.entry.code
  t.equal(response.statusCode, answer.statusCode, `${what}: ${answer.statusCode}`)
  t.same(response.json(), answerBody(answer, oauth2), `${what}: its body`)
  for (const [name, value] of Object.entries(answer.headers)) t.equal(response.headers[name.toLowerCase()], value, `${what}: ${name}`)
}

t.test('the answers on the wire are the entries of the table', async (t) => {
  const app = await buildApp(t)
  await createUser(app, johndoe)
  const headers = bearer(await login(app, johndoe))
  const form = { 'content-type': 'application/x-www-form-urlencoded' }

  answers(t, await app.inject({ url: '/users/me/' }), errors.NOT_AUTHENTICATED.answer())
  answers(t, await app.inject({ url: '/users/me/', headers: bearer('not.a.token') }), errors.INVALID_TOKEN.answer())
  answers(t, await app.inject({ url: '/nowhere' }), errors.NOT_FOUND.answer())
  answers(t, await app.inject({ method: 'DELETE', url: '/users/me/sessions/AAAAAAAAAAAAAAAAAAAAAA', headers }), errors.SESSION_NOT_FOUND.answer())
  answers(t, await app.inject({ url: '/users/me/items/1', headers }), serviceErrors.ITEM_NOT_FOUND.answer())
  answers(t, await app.inject({ method: 'POST', url: '/users/', payload: { username: johndoe.username, password: 'another-password' } }), errors.USERNAME_TAKEN.answer())
  answers(t, await app.inject({ method: 'POST', url: '/users/me/items/', headers: { ...headers, 'content-type': 'application/xml' }, payload: '<title/>' }), errors.UNSUPPORTED_MEDIA_TYPE.answer())
  answers(t, await app.inject({ method: 'POST', url: '/users/me/password', headers, payload: { current_password: 'wrong-password', new_password: 'a-new-password' } }),
    errors.CURRENT_PASSWORD_INCORRECT.answer())
  answers(t, await app.inject({ url: '/users/me/items/?limit=1e400', headers }),
    errors.VALIDATION.answer([{ loc: ['query', 'limit'], msg: 'Input should be a finite number', type: 'finite_number' }]))

  const token = async (payload: string) => await app.inject({ method: 'POST', url: '/token', headers: form, payload })
  answers(t, await token('username=johndoe&password=wrong-password'), errors.BAD_CREDENTIALS.answer(), { oauth2: true })
  answers(t, await token('username=johndoe'), errors.MISSING_FIELD.answer(['password']), { oauth2: true })
  answers(t, await token('grant_type=client_credentials'), errors.UNSUPPORTED_GRANT_TYPE.answer(), { oauth2: true })
  answers(t, await token('grant_type=refresh_token&refresh_token=unknown'), errors.REFRESH_TOKEN_INVALID.answer(), { oauth2: true })
  const json = await app.inject({ method: 'POST', url: '/token', payload: { username: 'johndoe', password: 'x' } })
  answers(t, json, errors.NOT_A_FORM.answer(), { oauth2: true })
  t.equal(json.headers['cache-control'], 'no-store', 'the token endpoint: no-store on its errors too')
  answers(t, await app.inject({ method: 'POST', url: '/revoke', headers: form, payload: 'token=a&token=b' }), errors.REPEATED_FIELD.answer(['token']), { oauth2: true })
})

t.test('errors thrown to a host carry their code', async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'auth.db')
  const host = Fastify({ logger: false })
  t.teardown(async () => await host.close())
  const options: TokenAuthOptions = { secret: testSecret(), database: `sqlite:${file}`, databaseOptions: { timeoutMs: 100 }, bcryptCost: 4, throttle: false }
  await host.register(tokenAuth, options)
  await host.ready()

  await t.rejects(host.tokenAuth.issueToken('nobody'), { code: errors.UNKNOWN_USER.code, message: 'fastify-token-auth: no user named nobody' }, 'issueToken for nobody')
  const short: unknown = await host.tokenAuth.hashPassword('short').catch((error: unknown) => error)
  t.ok(short instanceof RangeError, 'hashPassword: a RangeError')
  t.match(short, { name: 'PasswordRuleError', code: errors.PASSWORD_RULE.code, message: /^fastify-token-auth: Password must be at least 8 bytes/ }, 'with its code')
  await t.rejects(host.tokenAuth.accounts.create({ username: 'ruled', password: 'long-enough', email: 'not an email' }),
    { name: 'AccountRuleError', code: errors.ACCOUNT_RULE.code, message: /^fastify-token-auth: email / }, 'an account that breaks a rule')
  const memory = createDatabase('sqlite::memory:')
  t.teardown(async () => { await memory.destroy() })
  await t.rejects(backupSqliteDatabase(memory, join(dir, 'copy.db')), { name: 'BackupError', code: errors.BACKUP.code }, 'no backup of a database in memory')

  const user = { username: 'host-user', hashedPassword: await host.tokenAuth.hashPassword('host-password') }
  await host.tokenAuth.users.create(user)
  await t.rejects(host.tokenAuth.users.create(user), { name: 'UsernameTakenError', code: errors.USERNAME_TAKEN.code }, 'a taken username')

  // Another process holds the write lock longer than the timeout: the store's failure is a 503 with a code.
  const other = new SQLite(file)
  t.teardown(() => { other.close() })
  other.exec('BEGIN EXCLUSIVE')
  await t.rejects(host.tokenAuth.users.create({ ...user, username: 'another' }),
    { name: 'DatabaseUnavailableError', code: errors.UNAVAILABLE.code, statusCode: 503 }, 'a store failure')
  other.exec('ROLLBACK')

  const bad = Fastify({ logger: false })
  t.teardown(async () => await bad.close())
  await t.rejects(async () => { await bad.register(tokenAuth, { ...options, secret: 'too short' }) },
    { code: errors.OPTIONS.code, message: /^fastify-token-auth: secret must be a string of at least 32 bytes/ }, 'a bad option')
})

t.test(`docs/errors.md holds the table as it is (regenerate it with \`${REGENERATE_ERRORS}\`)`, async (t) => {
  const document = readFileSync(ERRORS_DOCUMENT, 'utf8')
  t.equal(document, withErrorTable(document), `${relative(root, ERRORS_DOCUMENT)} is stale: run \`${REGENERATE_ERRORS}\``)
  const block = renderErrorTable()
  for (const entry of allEntries) t.ok(block.includes(`\`${entry.code}\``), `${entry.code} is in it`)
  t.throws(() => withErrorTable('# Errors\n'), /errors:start/, 'a document without the markers is refused')
})
