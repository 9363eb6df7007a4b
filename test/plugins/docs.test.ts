import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { buildApp } from '../helper.js'

/* The generated OpenAPI document and the doc pages (Swagger UI, ReDoc) of the standalone service. */

type Json = Record<string, any>

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']

async function openapi (app: FastifyInstance): Promise<Json> {
  const response = await app.inject({ method: 'GET', url: '/openapi.json' })
  if (response.statusCode !== 200) throw new Error(`GET /openapi.json: ${response.statusCode} ${response.body}`)
  return response.json()
}

/** Follows a local `#/components/schemas/Name` reference (repeatedly) to the schema itself. */
function resolve (doc: Json, schema: Json | undefined): Json | undefined {
  let current = schema
  const seen = new Set<string>()
  while (current !== undefined && typeof current.$ref === 'string') {
    const ref: string = current.$ref
    if (seen.has(ref)) throw new Error(`circular $ref ${ref}`)
    seen.add(ref)
    const match = /^#\/components\/schemas\/(.+)$/.exec(ref)
    if (match === null) throw new Error(`not a local component reference: ${ref}`)
    current = doc.components?.schemas?.[decodeURIComponent(match[1]!)]
    if (current === undefined) throw new Error(`dangling $ref ${ref}`)
  }
  return current
}

/** Every operation of the document: [path, method, operation]. */
function operations (doc: Json): Array<[string, string, Json]> {
  const result: Array<[string, string, Json]> = []
  for (const [path, item] of Object.entries<Json>(doc.paths ?? {})) {
    for (const method of HTTP_METHODS) {
      if (item[method] !== undefined) result.push([path, method, item[method]])
    }
  }
  return result
}

/** Every property name reachable from a schema, following $refs, combinators, items and nested objects. */
function propertyNames (doc: Json, schema: Json | undefined, seenRefs = new Set<string>()): string[] {
  if (schema === undefined || schema === null || typeof schema !== 'object') return []
  const names: string[] = []
  if (typeof schema.$ref === 'string') {
    if (seenRefs.has(schema.$ref)) return []
    seenRefs.add(schema.$ref)
    return propertyNames(doc, resolve(doc, schema), seenRefs)
  }
  for (const [name, sub] of Object.entries<Json>(schema.properties ?? {})) {
    names.push(name, ...propertyNames(doc, sub, seenRefs))
  }
  for (const name of Object.keys(schema.patternProperties ?? {})) names.push(name)
  for (const key of ['anyOf', 'oneOf', 'allOf', 'prefixItems']) {
    for (const sub of schema[key] ?? []) names.push(...propertyNames(doc, sub, seenRefs))
  }
  for (const key of ['items', 'additionalProperties', 'not', 'if', 'then', 'else', 'contains']) {
    if (typeof schema[key] === 'object') names.push(...propertyNames(doc, schema[key], seenRefs))
  }
  for (const sub of Object.values<Json>(schema.patternProperties ?? {})) names.push(...propertyNames(doc, sub, seenRefs))
  for (const sub of Object.values<Json>(schema.$defs ?? {})) names.push(...propertyNames(doc, sub, seenRefs))
  return names
}

/** The CSP header as directive -> sources. */
function parseCsp (header: string | string[] | number | undefined): Map<string, string[]> {
  const directives = new Map<string, string[]>()
  for (const part of String(header ?? '').split(';')) {
    const [name, ...sources] = part.trim().split(/\s+/)
    if (name !== undefined && name !== '') directives.set(name.toLowerCase(), sources)
  }
  return directives
}

/** Sources of a directive, falling back to default-src as browsers do. */
function sourcesOf (csp: Map<string, string[]>, directive: string): string[] | undefined {
  return csp.get(directive) ?? csp.get('default-src')
}

/** True when a source list lets the browser load from a host other than the page's own. */
function allowsOtherHosts (sources: string[] | undefined): boolean {
  if (sources === undefined) return true // no directive and no default-src: anything goes
  return sources.some((source) => {
    const s = source.toLowerCase()
    if (s === "'self'" || s === "'none'" || s === 'data:' || s === 'blob:') return false
    if (s.startsWith("'nonce-") || s.startsWith("'sha")) return false
    if (s === "'unsafe-inline'" || s === "'unsafe-eval'" || s === "'strict-dynamic'" || s === "'wasm-unsafe-eval'") return false
    return true // *, a scheme such as https:, or a host
  })
}

/** The src/href of every <script> and <link> element of a page. */
function assetReferences (html: string): string[] {
  const refs: string[] = []
  for (const match of html.matchAll(/<script\b[^>]*\bsrc\s*=\s*["']([^"']+)["']/gi)) refs.push(match[1]!)
  for (const match of html.matchAll(/<link\b[^>]*\bhref\s*=\s*["']([^"']+)["']/gi)) refs.push(match[1]!)
  return refs
}

const ORIGIN = 'http://localhost'

/** Resolves a reference as a browser would on the page at `pageUrl`; undefined when it leaves our origin. */
function localPath (reference: string, pageUrl: string): string | undefined {
  const url = new URL(reference, ORIGIN + pageUrl)
  return url.origin === ORIGIN ? url.pathname + url.search : undefined
}

/** JavaScript without its comments at the start of a line (so that a link in a comment is not a load). */
function withoutComments (source: string): string {
  return source
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .split('\n')
    .filter((line) => !line.trim().startsWith('//'))
    .join('\n')
}

const PROTECTED: Array<[string, string]> = [
  ['/users/me/', 'get'],
  ['/users/me/items/', 'get'],
  ['/users/me/items/', 'post'],
  ['/users/me/items/{item_id}', 'get'],
  ['/users/me/items/{item_id}', 'delete']
]

t.test('GET /openapi.json', async (t) => {
  const app = await buildApp(t)
  const response = await app.inject({ method: 'GET', url: '/openapi.json' })
  t.equal(response.statusCode, 200)
  t.match(response.headers['content-type'], /^application\/json/)
  const doc = response.json()

  t.test('is OpenAPI 3', async (t) => {
    t.type(doc.openapi, 'string')
    t.ok(String(doc.openapi).startsWith('3.'), `openapi is ${String(doc.openapi)}`)
    t.type(doc.info?.title, 'string')
    t.type(doc.paths, 'object')
  })

  t.test('has exactly one OAuth2 password-flow security scheme pointing at /token', async (t) => {
    const schemes = doc.components?.securitySchemes ?? {}
    const oauth2 = Object.entries<Json>(schemes).filter(([, scheme]) => scheme.type === 'oauth2')
    t.equal(oauth2.length, 1, 'one oauth2 scheme')
    const [, scheme] = oauth2[0] ?? ['', {}]
    t.equal(scheme.flows?.password?.tokenUrl, '/token')
    t.type(scheme.flows?.password?.scopes, 'object')
    t.notOk(Array.isArray(scheme.flows?.password?.scopes), 'scopes is an object, not an array')
  })

  t.test('POST /token takes the OAuth2 password form', async (t) => {
    const operation = doc.paths?.['/token']?.post
    t.ok(operation, 'POST /token is documented')
    const content = operation?.requestBody?.content ?? {}
    t.same(Object.keys(content), ['application/x-www-form-urlencoded'], 'form-encoded body only')
    const form = resolve(doc, content['application/x-www-form-urlencoded']?.schema)
    t.ok(form, 'the form schema resolves')
    t.equal(form?.type, 'object')
    // One form for both grants: which fields a grant needs, the route says with RFC 6749 error codes.
    for (const field of ['username', 'password', 'grant_type', 'refresh_token', 'scope', 'client_id', 'client_secret']) {
      t.ok(form?.properties?.[field], `form has ${field}`)
      t.ok(form?.properties?.[field]?.description, `${field} says what it is for`)
    }
    for (const field of ['username', 'password', 'grant_type', 'refresh_token', 'scope', 'client_id', 'client_secret']) {
      t.notOk(form?.required?.includes(field), `${field} is optional`)
    }
  })

  t.test('POST /token answers 200 with the Token schema', async (t) => {
    const ok = doc.paths?.['/token']?.post?.responses?.['200']
    const raw = ok?.content?.['application/json']?.schema
    t.equal(raw?.$ref, '#/components/schemas/TokenAuth.Token', 'refers to the TokenAuth.Token component')
    const token = resolve(doc, raw)
    for (const field of ['access_token', 'token_type', 'expires_in', 'refresh_token']) {
      t.ok(token?.properties?.[field], `Token has ${field}`)
      t.ok(token?.required?.includes(field), `${field} is required`)
    }
  })

  t.test('protected operations carry the security requirement, public ones none', async (t) => {
    const schemeName = Object.keys(doc.components?.securitySchemes ?? {})[0]
    t.ok(schemeName, 'a scheme name')
    for (const [path, method] of PROTECTED) {
      const operation = doc.paths?.[path]?.[method]
      t.ok(operation, `${method.toUpperCase()} ${path} is documented`)
      const security: Json[] | undefined = operation?.security
      t.ok(Array.isArray(security) && security.some((requirement) => schemeName !== undefined && schemeName in requirement),
        `${method.toUpperCase()} ${path} requires ${String(schemeName)} (got ${JSON.stringify(security)})`)
    }
    for (const [path, method] of [['/token', 'post'], ['/users/', 'post']] as const) {
      const operation = doc.paths?.[path]?.[method]
      t.ok(operation, `${method.toUpperCase()} ${path} is documented`)
      const security: unknown[] | undefined = operation?.security
      t.ok(security === undefined || security.length === 0, `${method.toUpperCase()} ${path} has no security requirement`)
    }
    t.equal(doc.security, undefined, 'no document-wide security requirement')
  })

  t.test('the session and account operations: a summary, an operationId, when each status is answered, examples', async (t) => {
    // The scopes each needs: none for a public one, [] for one any token may call.
    const sessionOperations: Array<[string, string, string[], string[] | undefined]> = [
      ['/token', 'post', ['200', '400', '401', '403', '413', '429', '503'], undefined],
      ['/revoke', 'post', ['200', '400', '413', '429', '503'], undefined],
      ['/logout', 'post', ['204', '401', '422', '503'], []],
      ['/users/me/sessions', 'get', ['200', '400', '401', '403', '422', '429', '503'], ['me']],
      ['/users/me/sessions/{session_id}', 'delete', ['204', '400', '401', '403', '404', '422', '503'], ['me']],
      ['/users/me/password', 'post', ['204', '400', '401', '403', '413', '415', '422', '429', '503'], ['me']],
      ['/users/me/mfa', 'get', ['200', '400', '401', '403', '503'], ['me']],
      ['/users/me/mfa/totp', 'post', ['200', '400', '401', '403', '409', '413', '415', '422', '429', '503'], ['me']],
      ['/users/me/mfa/totp', 'delete', ['204', '400', '401', '403', '413', '415', '422', '429', '503'], ['me']],
      ['/users/me/mfa/totp/verify', 'post', ['200', '400', '401', '403', '413', '415', '422', '429', '503'], ['me']],
      ['/users/me/mfa/recovery-codes', 'post', ['200', '400', '401', '403', '413', '415', '422', '429', '503'], ['me']],
      ['/users/me/', 'patch', ['200', '400', '401', '403', '413', '415', '422', '503'], ['me']],
      ['/users/me/', 'delete', ['204', '400', '401', '403', '413', '415', '422', '429', '503'], ['me']],
      ['/admin/users', 'get', ['200', '400', '401', '403', '422', '503'], ['admin']],
      ['/admin/users/{username}', 'get', ['200', '400', '401', '403', '404', '422', '503'], ['admin']],
      ['/admin/users/{username}', 'patch', ['200', '400', '401', '403', '404', '413', '415', '422', '503'], ['admin']],
      ['/admin/users/{username}', 'delete', ['204', '400', '401', '403', '404', '422', '503'], ['admin']],
      ['/admin/users/{username}/mfa', 'delete', ['204', '400', '401', '403', '404', '422', '503'], ['admin']],
      ['/admin/users/{username}/sessions', 'get', ['200', '400', '401', '403', '404', '422', '503'], ['admin']],
      ['/admin/users/{username}/sessions', 'delete', ['200', '400', '401', '403', '404', '422', '503'], ['admin']],
      ['/admin/users/{username}/sessions/{session_id}', 'delete', ['204', '400', '401', '403', '404', '422', '503'], ['admin']],
      ['/admin/sessions', 'delete', ['200', '400', '401', '403', '503'], ['admin']]
    ]
    const operationIds = new Set<string>()
    for (const [path, method, statuses, scopes] of sessionOperations) {
      const operation = doc.paths?.[path]?.[method]
      const name = `${method.toUpperCase()} ${path}`
      t.ok(operation?.summary, `${name} has a summary`)
      t.type(operation?.operationId, 'string', `${name} has an operationId`)
      operationIds.add(operation?.operationId)
      t.same(Object.keys(operation?.responses ?? {}).sort(), statuses, `${name} documents ${statuses.join(', ')}`)
      for (const status of statuses) {
        const description = operation?.responses?.[status]?.description
        t.ok(typeof description === 'string' && description !== 'Default Response' && description.length > 10, `${name} ${status} says when it is answered`)
      }
      if (scopes !== undefined) t.same(operation?.security, [{ OAuth2PasswordBearer: scopes }], `${name} requires the bearer token${scopes.length > 0 ? ` with ${scopes.join(' ')}` : ''}`)
      else t.notOk(operation?.security?.length, `${name} needs no bearer token`)
    }
    t.equal(operationIds.size, sessionOperations.length, 'operationIds are unique')
    for (const name of ['TokenAuth.Session', 'TokenAuth.PasswordChange', 'TokenAuth.UserUpdate', 'TokenAuth.Token', 'TokenAuth.RevokeForm', 'TokenAuth.AdminUser', 'TokenAuth.AdminUserUpdate', 'TokenAuth.EndedSessions']) {
      const properties = Object.entries<Record<string, unknown>>(doc.components?.schemas?.[name]?.properties ?? {})
      t.ok(properties.length > 0, `${name} is a component`)
      const literal = (field: Record<string, unknown>) => 'const' in field || 'enum' in field
      const without = properties.filter(([key, field]) => !Array.isArray(field.examples) && !literal(field) && !['client_id', 'client_secret'].includes(key)).map(([key]) => key)
      t.same(without, [], `every field of ${name} has an example`)
    }
    t.equal(doc.paths?.['/revoke']?.post?.responses?.['200']?.content, undefined, "RFC 7009's 200 has no body")
  })

  t.test('exactly the expected operations are documented', async (t) => {
    const documented = operations(doc).map(([path, method]) => `${method.toUpperCase()} ${path}`).sort()
    t.same(documented, [
      'DELETE /admin/sessions',
      'DELETE /admin/users/{username}',
      'DELETE /admin/users/{username}/mfa',
      'DELETE /admin/users/{username}/sessions',
      'DELETE /admin/users/{username}/sessions/{session_id}',
      'DELETE /users/me/',
      'DELETE /users/me/items/{item_id}',
      'DELETE /users/me/mfa/totp',
      'DELETE /users/me/sessions/{session_id}',
      'GET /.well-known/jwks.json',
      'GET /admin/users',
      'GET /admin/users/{username}',
      'GET /admin/users/{username}/sessions',
      'GET /health',
      'GET /health/ready',
      'GET /users/me/',
      'GET /users/me/items/',
      'GET /users/me/items/{item_id}',
      'GET /users/me/mfa',
      'GET /users/me/sessions',
      'PATCH /admin/users/{username}',
      'PATCH /users/me/',
      'POST /introspect',
      'POST /logout',
      'POST /revoke',
      'POST /token',
      'POST /users/',
      'POST /users/me/items/',
      'POST /users/me/mfa/recovery-codes',
      'POST /users/me/mfa/totp',
      'POST /users/me/mfa/totp/verify',
      'POST /users/me/password'
    ])
  })

  t.test('paths use OpenAPI templates and document their parameters', async (t) => {
    for (const path of Object.keys(doc.paths ?? {})) {
      t.notMatch(path, /:/, `${path} has no Fastify-style :param`)
    }
    for (const method of ['get', 'delete']) {
      const parameters: Json[] = doc.paths?.['/users/me/items/{item_id}']?.[method]?.parameters ?? []
      const itemId = parameters.find((p) => p.name === 'item_id')
      t.ok(itemId, `${method.toUpperCase()} has an item_id parameter`)
      t.equal(itemId?.in, 'path')
      t.equal(itemId?.required, true, 'path parameters are required')
      t.equal(itemId?.schema?.type, 'integer')
      t.equal(itemId?.schema?.minimum, 1)
    }
    const parameters: Json[] = doc.paths?.['/users/me/items/']?.get?.parameters ?? []
    const limit = parameters.find((p) => p.name === 'limit')
    const offset = parameters.find((p) => p.name === 'offset')
    t.equal(limit?.in, 'query')
    t.equal(limit?.schema?.type, 'integer')
    t.equal(limit?.schema?.minimum, 1)
    t.equal(limit?.schema?.maximum, 100)
    t.equal(offset?.in, 'query')
    t.equal(offset?.schema?.type, 'integer')
    t.equal(offset?.schema?.minimum, 0)
  })

  t.test('limit and offset have defaults, so they are documented as optional', async (t) => {
    // The route accepts a request without them (ajv fills in the defaults), so the document
    // must not tell clients they are required.
    const parameters: Json[] = doc.paths?.['/users/me/items/']?.get?.parameters ?? []
    for (const name of ['limit', 'offset']) {
      const parameter = parameters.find((p) => p.name === name)
      t.not(parameter?.required, true, `${name} is not required`)
      t.type(parameter?.schema?.default, 'number', `${name} shows its default`)
    }
  })

  t.test('no trailing-slash aliases are documented', async (t) => {
    const paths = Object.keys(doc.paths ?? {})
    for (const alias of ['/users/me', '/token/', '/users', '/users/me/items', '/users/me/items/{item_id}/', '/health/', '/health/ready/']) {
      t.notOk(paths.includes(alias), `${alias} is not documented`)
    }
    for (const path of paths) {
      const toggled = path.endsWith('/') ? path.slice(0, -1) : `${path}/`
      t.notOk(paths.includes(toggled), `${path} has no documented alias ${toggled}`)
    }
  })

  t.test('the doc routes themselves are not documented', async (t) => {
    for (const path of Object.keys(doc.paths ?? {})) {
      t.notMatch(path, /^\/(docs|openapi|redoc)(\/|\.|$)/, `${path} is not a doc route`)
    }
  })

  t.test('no response schema exposes anything like a password', async (t) => {
    let responses = 0
    for (const [path, method, operation] of operations(doc)) {
      for (const [status, response] of Object.entries<Json>(operation.responses ?? {})) {
        for (const [type, media] of Object.entries<Json>(response.content ?? {})) {
          responses++
          const names = propertyNames(doc, media.schema)
          const leaked = names.filter((name) => /password/i.test(name))
          t.same(leaked, [], `${method.toUpperCase()} ${path} ${status} ${type}`)
        }
      }
    }
    t.ok(responses >= 10, `walked ${responses} response bodies`)
    // The walker itself finds password fields where they legitimately are: the request bodies.
    t.ok(propertyNames(doc, { $ref: '#/components/schemas/TokenAuth.UserCreate' }).includes('password'), 'walker sanity check')
  })

  t.test('components are named after the schema $id', async (t) => {
    const schemas = doc.components?.schemas ?? {}
    for (const name of ['TokenAuth.User', 'TokenAuth.Token', 'TokenAuth.TokenForm', 'TokenAuth.UserCreate', 'TokenAuth.HTTPError', 'TokenAuth.HTTPValidationError', 'Item']) {
      t.ok(schemas[name], `components.schemas.${name}`)
    }
    for (const name of Object.keys(schemas)) {
      t.notMatch(name, /^def-\d+$/, `${name} is not a generated def-N name`)
    }
    // Every reference in the document points at an existing component.
    const refs = JSON.stringify(doc).match(/"\$ref":"[^"]*"/g) ?? []
    t.ok(refs.length > 0, 'the document uses $refs')
    for (const ref of new Set(refs)) {
      const target = JSON.parse(`{${ref}}`).$ref as string
      t.doesNotThrow(() => resolve(doc, { $ref: target }), `${target} resolves`)
    }
  })
})

t.test('Swagger UI', async (t) => {
  const app = await buildApp(t)

  for (const page of ['/docs', '/docs/']) {
    t.test(`GET ${page}`, async (t) => {
      const response = await app.inject({ method: 'GET', url: page })
      t.equal(response.statusCode, 200)
      t.match(response.headers['content-type'], /^text\/html/)
      t.match(response.body, /swagger-ui/i)
      t.ok(response.headers['content-security-policy'], 'has a content-security-policy')
      const csp = parseCsp(response.headers['content-security-policy'])
      t.notOk(allowsOtherHosts(sourcesOf(csp, 'script-src')), 'scripts only from this server')
      t.notOk(allowsOtherHosts(sourcesOf(csp, 'style-src')), 'styles only from this server')
      t.notOk(allowsOtherHosts(sourcesOf(csp, 'img-src')), 'images only from this server')

      const refs = assetReferences(response.body)
      t.ok(refs.some((ref) => /swagger-ui-bundle\.js$/.test(ref)), 'loads swagger-ui-bundle.js')
      t.ok(refs.some((ref) => /swagger-initializer\.js$/.test(ref)), 'loads swagger-initializer.js')
      for (const ref of refs) {
        const path = localPath(ref, page)
        t.ok(path?.startsWith('/docs/static/'), `${ref} is served locally under /docs/static/ (resolves to ${String(path)})`)
        if (path === undefined) continue
        const asset = await app.inject({ method: 'GET', url: path })
        t.equal(asset.statusCode, 200, `GET ${path}`)
      }
    })
  }

  t.test('static assets', async (t) => {
    const bundle = await app.inject({ method: 'GET', url: '/docs/static/swagger-ui-bundle.js' })
    t.equal(bundle.statusCode, 200)
    t.match(bundle.headers['content-type'], /javascript/)
    t.ok(bundle.body.length > 100_000, `the bundle is the real thing (${bundle.body.length} bytes)`)

    const initializer = await app.inject({ method: 'GET', url: '/docs/static/swagger-initializer.js' })
    t.equal(initializer.statusCode, 200)
    t.match(initializer.headers['content-type'], /javascript/)
    t.match(initializer.body, /SwaggerUIBundle/)
    const code = withoutComments(initializer.body)
    const external = code.match(/https?:\/\/[^\s'"`)]+/gi) ?? []
    t.same(external.filter((url) => new URL(url).hostname !== 'localhost'), [], 'no URL of another host')
    t.notMatch(code, /petstore/i, 'not the demo petstore spec')
    t.notMatch(code, /validatorUrl:\s*["'`]https?:/, 'no online validator')
  })
})

t.test('ReDoc', async (t) => {
  const app = await buildApp(t)
  const page = await app.inject({ method: 'GET', url: '/redoc' })
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /^text\/html/)
  t.ok(page.headers['content-security-policy'], 'has a content-security-policy')
  const csp = parseCsp(page.headers['content-security-policy'])
  t.notOk(allowsOtherHosts(sourcesOf(csp, 'img-src')), `img-src allows no other host (${String(sourcesOf(csp, 'img-src'))})`)
  t.notOk(allowsOtherHosts(sourcesOf(csp, 'script-src')), 'script-src allows no other host')
  t.notOk(allowsOtherHosts(sourcesOf(csp, 'connect-src')), 'connect-src allows no other host')
  t.match(page.body, /spec-url="\/openapi\.json"/, 'points at our own document')

  const scripts = [...page.body.matchAll(/<script\b[^>]*\bsrc\s*=\s*["']([^"']+)["']/gi)].map((m) => m[1]!)
  t.equal(scripts.length, 1, 'one script')
  const path = localPath(scripts[0] ?? '', '/redoc')
  t.ok(path, `${String(scripts[0])} is local`)
  // An inline data: URI (the favicon) loads nothing either.
  for (const ref of assetReferences(page.body)) t.ok(ref.startsWith('data:') || localPath(ref, '/redoc'), `${ref} is local`)

  const script = await app.inject({ method: 'GET', url: path ?? '/redoc/missing.js' })
  t.equal(script.statusCode, 200)
  t.match(script.headers['content-type'], /javascript/)
  t.ok(script.body.length > 500_000, `the redoc standalone bundle (${script.body.length} bytes)`)
  t.match(script.body, /redoc/i)
})

t.test("with registration 'closed', POST /users/ is not documented", async (t) => {
  const app = await buildApp(t, { registration: 'closed' })
  const doc = await openapi(app)
  t.equal(doc.paths?.['/users/']?.post, undefined, 'POST /users/ absent')
  t.equal(doc.paths?.['/users']?.post, undefined, 'POST /users absent')
  t.ok(doc.paths?.['/token']?.post, 'POST /token still documented')
  t.ok(doc.paths?.['/users/me/']?.get, 'GET /users/me/ still documented')
})

t.test('with docs: false, no doc routes answer', async (t) => {
  const app = await buildApp(t, { docs: false })
  for (const url of ['/docs', '/docs/', '/openapi.json', '/redoc', '/docs/static/swagger-ui-bundle.js', '/redoc/redoc.standalone.js', '/docs/json']) {
    const response = await app.inject({ method: 'GET', url })
    t.equal(response.statusCode, 404, `GET ${url}`)
  }
  // The API itself is still there.
  const token = await app.inject({
    method: 'POST',
    url: '/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: 'username=nobody&password=nothing-here'
  })
  t.equal(token.statusCode, 401, 'POST /token still answers')
})
