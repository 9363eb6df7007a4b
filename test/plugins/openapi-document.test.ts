import { readFileSync } from 'node:fs'
import { Ajv2020 } from 'ajv/dist/2020.js'
import ajvFormats from 'ajv-formats'
import t from 'tap'
import { operationsOf, pluginDocument, PUBLIC_URL, serviceDocument, type Json } from './openapi-support.js'

/* What the OpenAPI documents tell a reader: ids, descriptions, examples that are true, servers. */

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as Json

// The operationIds are part of the contract (client generators name methods after them).
const OPERATION_IDS: Record<string, string> = {
  'POST /token': 'token',
  'POST /revoke': 'revokeToken',
  'POST /introspect': 'introspectToken',
  'POST /logout': 'logout',
  'POST /users/': 'register',
  'GET /users/me/': 'readCurrentUser',
  'PATCH /users/me/': 'updateCurrentUser',
  'DELETE /users/me/': 'deleteCurrentUser',
  'POST /users/me/password': 'changePassword',
  'GET /users/me/mfa': 'readMfa',
  'POST /users/me/mfa/totp': 'startTotpEnrolment',
  'DELETE /users/me/mfa/totp': 'disableTotp',
  'POST /users/me/mfa/totp/verify': 'confirmTotp',
  'POST /users/me/mfa/recovery-codes': 'replaceRecoveryCodes',
  'DELETE /admin/users/{username}/mfa': 'resetUserMfa',
  'GET /users/me/sessions': 'listSessions',
  'DELETE /users/me/sessions/{session_id}': 'endSession',
  'GET /admin/users': 'listUsers',
  'GET /admin/users/{username}': 'readUser',
  'PATCH /admin/users/{username}': 'updateUser',
  'DELETE /admin/users/{username}': 'deleteUser',
  'GET /admin/users/{username}/sessions': 'listUserSessions',
  'DELETE /admin/users/{username}/sessions': 'endUserSessions',
  'DELETE /admin/users/{username}/sessions/{session_id}': 'endUserSession',
  'DELETE /admin/sessions': 'endAllSessions',
  'GET /.well-known/jwks.json': 'readJwks',
  'GET /users/me/items/': 'listItems',
  'POST /users/me/items/': 'createItem',
  'GET /users/me/items/{item_id}': 'readItem',
  'DELETE /users/me/items/{item_id}': 'deleteItem',
  'GET /health': 'checkLiveness',
  'GET /health/ready': 'checkReadiness'
}
// POST /introspect names no OAuth2 scheme: its callers authenticate with HTTP Basic or an admin's token, checked by the route.
const PUBLIC_OPERATIONS = ['POST /token', 'POST /revoke', 'POST /introspect', 'POST /users/', 'GET /.well-known/jwks.json', 'GET /health', 'GET /health/ready']

/**
 * Validates examples against the schemas of the document they are in, as JSON Schema 2020-12
 * (OpenAPI 3.1's dialect), formats included: each schema is compiled with its `#/components`
 * references pointing into the document.
 */
function exampleValidator (doc: Json) {
  const ajv = new Ajv2020({ strict: false, allErrors: true })
  ajvFormats.default(ajv)
  ajv.addFormat('password', true)
  ajv.addSchema({ $id: 'openapi.json', components: doc.components })
  const intoDocument = (schema: unknown): unknown => JSON.parse(JSON.stringify(schema).replaceAll('"$ref":"#/', '"$ref":"openapi.json#/'))
  return (schema: Json, example: unknown): string | undefined => {
    const validate = ajv.compile(intoDocument(schema) as Json)
    return validate(example) ? undefined : ajv.errorsText(validate.errors)
  }
}

/**
 * Every example in the document with the schema it illustrates: `examples` of a schema (at
 * any depth of the components, parameters and bodies), and the `example` and named `examples`
 * of a media type or parameter.
 */
function examplesOf (doc: Json): Array<{ at: string, schema: Json, example: unknown }> {
  const found: Array<{ at: string, schema: Json, example: unknown }> = []
  const visit = (node: unknown, at: string): void => {
    if (Array.isArray(node)) {
      node.forEach((item, i) => { visit(item, `${at}/${i}`) })
      return
    }
    if (typeof node !== 'object' || node === null) return
    const object = node as Json
    // A schema's examples are an array; a media type's or parameter's, an object of named ones.
    if (Array.isArray(object.examples)) {
      object.examples.forEach((example: unknown, i: number) => found.push({ at: `${at}/examples/${i}`, schema: object, example }))
    }
    if (typeof object.schema === 'object') {
      if ('example' in object) found.push({ at: `${at}/example`, schema: object.schema, example: object.example })
      if (typeof object.examples === 'object' && !Array.isArray(object.examples)) {
        for (const [name, named] of Object.entries<Json>(object.examples)) found.push({ at: `${at}/examples/${name}`, schema: object.schema, example: named.value })
      }
    }
    for (const [key, value] of Object.entries(object)) {
      if (key !== 'examples' && key !== 'example') visit(value, `${at}/${key}`)
    }
  }
  visit(doc.components, '#/components')
  visit(doc.paths, '#/paths')
  return found
}

t.test("the service's document", async (t) => {
  const { app, doc } = await serviceDocument(t)
  const operations = operationsOf(doc)

  t.test('every operation has its operationId: camelCase, unique, the same as before', async (t) => {
    const ids = Object.fromEntries(operations.map(({ name, operation }) => [name, operation.operationId]))
    t.same(ids, OPERATION_IDS)
    for (const id of Object.values(ids)) t.match(id, /^[a-z][a-zA-Z0-9]*$/, `${String(id)} is camelCase`)
    t.equal(new Set(Object.values(ids)).size, operations.length, 'no two operations share one')
  })

  t.test('every response says when it is answered, each status in words of its own', async (t) => {
    let responses = 0
    for (const { name, operation } of operations) {
      t.ok(typeof operation.summary === 'string' && typeof operation.description === 'string' && operation.description.length > 20,
        `${name} has a summary and a description`)
      const descriptions = Object.entries<Json>(operation.responses).map(([status, response]) => {
        responses++
        const description = response.description as unknown
        t.ok(typeof description === 'string' && description.length > 10 && description !== 'Default Response',
          `${name} ${status}: ${String(description)}`)
        t.notMatch(description, /^An error; `detail` says what went wrong/, `${name} ${status} is not the schema's generic sentence`)
        return description
      })
      t.equal(new Set(descriptions).size, descriptions.length, `${name}: no two statuses with one description`)
    }
    t.ok(responses > 80, `${responses} responses`)
    t.notMatch(JSON.stringify(doc), /Default Response/, 'no "Default Response" anywhere')
    t.match(doc.paths['/token'].post.responses['200'].description, /Logged in .* refreshed/, 'the 200 of /token is described')
  })

  t.test('the error statuses the README lists are described where they happen', async (t) => {
    const has = (name: string, status: string) => operations.find((operation) => operation.name === name)?.operation.responses?.[status]
    for (const { name, operation } of operations) {
      if (operation.security?.length > 0) {
        t.match(has(name, '401'), { description: /bearer token is missing/ }, `${name}: 401`)
      }
      if (!name.startsWith('GET /health') && name !== 'GET /.well-known/jwks.json') t.match(has(name, '503'), { description: /database is unavailable/ }, `${name}: 503`)
      if (operation.requestBody?.content?.['application/json'] !== undefined) {
        t.match(has(name, '415'), { description: /not JSON/ }, `${name} takes JSON: 415`)
        t.match(has(name, '422'), { description: /body, query or path failed validation.*; `detail` lists every problem$/ }, `${name}: 422`)
      }
    }
    t.match(has('POST /users/', '409'), { description: /username is taken/ })
    t.match(has('POST /users/', '403'), { description: /Registration is closed/ })
    t.match(has('GET /users/me/items/{item_id}', '404'), { description: /no item of that id/ })
    t.match(has('POST /token', '429'), { description: /Retry-After/ })
    t.match(has('POST /users/me/items/', '413'), { description: /larger than an item/ })
  })

  t.test('every example is valid for the schema it illustrates', async (t) => {
    const check = exampleValidator(doc)
    const examples = examplesOf(doc)
    t.ok(examples.length > 100, `${examples.length} examples`)
    for (const { at, schema, example } of examples) t.equal(check(schema, example), undefined, at)
    // The check itself refuses a bad one: a registration the username pattern refuses.
    t.match(check({ $ref: '#/components/schemas/TokenAuth.UserCreate' }, { username: 'john doe', password: 'a-long-password' }), /pattern/)
    t.match(check({ $ref: '#/components/schemas/TokenAuth.User' }, { username: 'johndoe' }), /required/)
  })

  t.test('every schema, field, parameter and response has an example', async (t) => {
    const withoutExample = (schema: Json): boolean => !Array.isArray(schema.examples) || schema.examples.length === 0
    for (const [name, schema] of Object.entries<Json>(doc.components.schemas)) {
      t.notOk(withoutExample(schema), `${name} has an example`)
      for (const [field, property] of Object.entries<Json>(schema.properties ?? {})) t.notOk(withoutExample(property), `${name}.${field} has an example`)
    }
    for (const { name, operation } of operations) {
      for (const parameter of operation.parameters ?? []) t.not(parameter.example, undefined, `${name} ${String(parameter.name)} has an example`)
      for (const [status, response] of Object.entries<Json>(operation.responses)) {
        for (const media of Object.values<Json>(response.content ?? {})) {
          const shown = media.example !== undefined || media.examples !== undefined || media.schema.$ref !== undefined
          t.ok(shown, `${name} ${status} has an example of its own, or its schema's`)
        }
      }
    }
  })

  t.test('the documented examples, sent as they are, do what the document says', async (t) => {
    const schemas = doc.components.schemas
    const example = (name: string) => schemas[name].examples[0]
    const parameter = (path: string, method: string, name: string) =>
      doc.paths[path][method].parameters.find((p: Json) => p.name === name).example
    const form = (body: Json) => ({ headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams(body).toString() })

    const registered = await app.inject({ method: 'POST', url: '/users/', payload: example('TokenAuth.UserCreate') })
    t.equal(registered.statusCode, 201, 'the registration example registers')
    t.same(registered.json(), example('TokenAuth.User'), 'and answers the User example')
    const login = await app.inject({ method: 'POST', url: '/token', ...form(example('TokenAuth.TokenForm')) })
    t.equal(login.statusCode, 200, 'the token form example logs that user in')
    t.same(Object.keys(login.json()).sort(), Object.keys(example('TokenAuth.Token')).sort(), 'with the fields of the Token example')
    const headers = { authorization: `Bearer ${String(login.json().access_token)}` }

    const item = await app.inject({ method: 'POST', url: '/users/me/items/', headers, payload: example('ItemCreate') })
    t.equal(item.statusCode, 201, 'the item example is created')
    t.same(item.json(), example('Item'), 'as the Item example (the first item is 1)')
    const itemId = parameter('/users/me/items/{item_id}', 'get', 'item_id')
    t.same((await app.inject({ url: `/users/me/items/${String(itemId)}`, headers })).json(), example('Item'), 'the item_id example finds it')
    const limit = parameter('/users/me/items/', 'get', 'limit')
    const offset = parameter('/users/me/items/', 'get', 'offset')
    t.equal((await app.inject({ url: `/users/me/items/?limit=${String(limit)}&offset=${String(offset)}`, headers })).statusCode, 200, 'limit and offset examples')
    t.equal((await app.inject({ method: 'PATCH', url: '/users/me/', headers, payload: example('TokenAuth.UserUpdate') })).statusCode, 200, 'the profile example')
    t.equal((await app.inject({ method: 'POST', url: '/revoke', ...form(example('TokenAuth.RevokeForm')) })).statusCode, 200, 'the revocation example')
    t.equal((await app.inject({ method: 'DELETE', url: '/users/me/', headers, payload: example('TokenAuth.AccountDeletion') })).statusCode, 204,
      'the account deletion example deletes the account')

    // Once more, for the password change: it needs an account with the registration's password.
    await app.inject({ method: 'POST', url: '/users/', payload: example('TokenAuth.UserCreate') })
    const again = { authorization: `Bearer ${String((await app.inject({ method: 'POST', url: '/token', ...form(example('TokenAuth.TokenForm')) })).json().access_token)}` }
    const change = example('TokenAuth.PasswordChange')
    t.equal((await app.inject({ method: 'POST', url: '/users/me/password', headers: again, payload: change })).statusCode, 204, 'the password change example')
    const withNew = await app.inject({ method: 'POST', url: '/token', ...form({ ...example('TokenAuth.TokenForm'), password: change.new_password }) })
    t.equal(withNew.statusCode, 200, 'and its new password logs in')
    const scope = parameter('/logout', 'post', 'scope')
    t.equal((await app.inject({ method: 'POST', url: `/logout?scope=${String(scope)}`, headers: again })).statusCode, 204, 'the logout scope example')
  })

  t.test('public operations say they need no token; the others require the scheme with the scopes they need', async (t) => {
    const scopesOf = (name: string) => name.includes('/items/') ? ['items'] : name.includes(' /admin/') ? ['admin'] : name === 'POST /logout' ? [] : ['me']
    for (const { name, operation } of operations) {
      if (PUBLIC_OPERATIONS.includes(name)) t.same(operation.security, [], `${name}: security []`)
      else t.same(operation.security, [{ OAuth2PasswordBearer: scopesOf(name) }], `${name} requires OAuth2PasswordBearer with ${scopesOf(name).join(' ') || 'any scope'}`)
    }
    t.equal(doc.security, undefined, 'no document-wide requirement')
    t.same(doc.components.securitySchemes.OAuth2PasswordBearer.flows.password.scopes, {
      me: 'Read and change your own account and sessions',
      items: 'Read and change your own items',
      admin: 'Manage every account and session (admins only)'
    }, 'the password flow lists every scope with its description, in order')
  })

  t.test('without a public URL: the server is "/" and the token URL a path', async (t) => {
    t.same(doc.servers, [{ url: '/' }])
    t.equal(doc.components.securitySchemes.OAuth2PasswordBearer.flows.password.tokenUrl, '/token')
    t.match(doc.info.description, /SERVER=https:\/\/api\.example\.com {3}# this server's address/, 'the curl example says where to put the address')
  })

  t.test('info: licence and contact from package.json, a title, and how to log in', async (t) => {
    t.equal(doc.info.version, pkg.version)
    t.same(doc.info.license, { name: pkg.license, url: `https://spdx.org/licenses/${String(pkg.license)}.html` })
    t.same(doc.info.contact, { name: pkg.name, url: String(pkg.repository.url).replace(/^git\+/, '').replace(/\.git$/, '') })
    const description: string = doc.info.description
    t.match(description, /\*\*In Swagger UI\*\* \(`\/docs`\): click \*\*Authorize\*\*, enter your username and password/)
    t.match(description, /`client_id` and `client_secret` fields are not needed: leave them empty/)
    t.match(description, /\*\*In ReDoc\*\* \(`\/redoc`\), which has no Authorize button/)
    t.match(description, /curl -d username=johndoe -d password=a-long-password "\$SERVER\/token"/)
    t.match(description, /Authorization: Bearer /)
    t.notMatch(description, /Use \*\*Authorize\*\* to log in/, 'no advice ReDoc cannot follow')
    for (const status of ['400', '401', '403', '404', '409', '413', '415', '422', '429', '503']) {
      t.match(description, new RegExp(`^\\| ${status} \\| .{20,}`, 'm'), `the error table explains ${status}`)
    }
    const scheme = doc.components.securitySchemes.OAuth2PasswordBearer
    t.match(scheme.description, /`client_id` and `client_secret` are not needed and can be left empty/, 'the scheme says what the Authorize dialog needs')
  })

  t.test('every tag an operation uses is defined, with a description', async (t) => {
    const used = new Set(operations.flatMap(({ operation }) => operation.tags as string[]))
    t.same(doc.tags.map((tag: Json) => tag.name), ['auth', 'users', 'mfa', 'sessions', 'admin', 'items', 'health'])
    for (const tag of doc.tags) t.ok(typeof tag.description === 'string' && tag.description.length > 10, `${String(tag.name)} is described`)
    for (const name of used) t.ok(doc.tags.some((tag: Json) => tag.name === name), `${name} is defined`)
  })
})

t.test('with a public URL (trailing slash and all), the server and the token URL are absolute', async (t) => {
  const { doc } = await serviceDocument(t, { publicUrl: `${PUBLIC_URL}/` })
  t.same(doc.servers, [{ url: PUBLIC_URL }], 'the trailing slash is dropped')
  const scheme = doc.components.securitySchemes.OAuth2PasswordBearer
  t.equal(scheme.flows.password.tokenUrl, `${PUBLIC_URL}/token`)
  t.match(scheme.description, `POST ${PUBLIC_URL}/token`)
  t.match(doc.info.description, `SERVER=${PUBLIC_URL}\n`, 'the curl example uses it')
  t.ok(doc.paths['/token'], 'the paths stay the routes themselves')
})

t.test('with registration closed, the description invites no registration', async (t) => {
  const { doc } = await serviceDocument(t, { registration: 'closed' })
  t.notMatch(doc.info.description, /Register one/)
  t.match(doc.info.description, /## Logging in/)
})

t.test('a bad public URL stops the service at start-up', async (t) => {
  for (const publicUrl of ['ftp://auth.acme.test', '/api', 'https://auth.acme.test/?x=1', 'https://user:pw@auth.acme.test']) {
    await t.rejects(serviceDocument(t, { publicUrl }), /publicUrl must/, publicUrl)
  }
})

t.test("the plugin's own document, under a prefix", async (t) => {
  const doc = await pluginDocument(t, '/auth')
  t.same(doc.servers, [{ url: '/' }], 'the server is the app root: the paths carry the prefix')
  t.ok(doc.paths['/auth/token'], 'POST /auth/token')
  t.equal(doc.components.securitySchemes.OAuth2PasswordBearer.flows.password.tokenUrl, '/auth/token')
  t.same(doc.tags.map((tag: Json) => tag.name), ['auth', 'users', 'mfa', 'sessions', 'admin'])
  t.match(doc.info.description, /POST \/auth\/users\/` first/)
  t.match(doc.info.description, /\*\*In Swagger UI\*\* \(`\/auth\/docs`\)/)
  t.notMatch(doc.info.description, /In ReDoc/, 'no ReDoc advice without ReDoc')
  t.same(doc.info.license?.name, pkg.license)
  const ids = operationsOf(doc).map(({ operation }) => operation.operationId as string)
  t.equal(new Set(ids).size, ids.length, 'unique operationIds')

  const absolute = await pluginDocument(t, '/auth', { publicUrl: 'https://acme.test/', description: 'Accounts of the Acme shop.' })
  t.same(absolute.servers, [{ url: 'https://acme.test' }])
  t.equal(absolute.components.securitySchemes.OAuth2PasswordBearer.flows.password.tokenUrl, 'https://acme.test/auth/token', 'the token URL honours the prefix')
  t.match(absolute.info.description, /^Accounts of the Acme shop\.\n\n## Logging in/, 'a description given leads, the login section follows')
})
