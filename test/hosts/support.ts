import { readdirSync, readlinkSync } from 'node:fs'
import fastifySwagger from '@fastify/swagger'
import fastifySwaggerUi from '@fastify/swagger-ui'
import Fastify, { type FastifyInstance, type FastifyServerOptions, type LightMyRequestResponse } from 'fastify'
import tokenAuth, { BUILT_IN_SCOPES, userOf, UsernameTakenError, type NewUser, type ProfileChanges, type TokenAuthOptions, type UserRecord, type UserStore } from '../../src/index.js'
import { testSecret, type TestContext } from '../helper.js'

// Shared pieces of the host-app tests: each test builds its own Fastify host, registers the
// plugin under /auth and drives it through HTTP (inject) as a client of that host would.

export type Json = Record<string, any>

export interface Credentials {
  username: string
  password: string
  /** Sent as the token form's `scope` when given. */
  scope?: string
}

export const hostUser: Credentials = { username: 'hostuser', password: 'host-password-1' }

/** The plugin's options for a host: /auth, a fresh secret, SQLite in memory (unless a store is given), the cheapest bcrypt. */
export function pluginOptions (overrides: Partial<TokenAuthOptions> = {}): TokenAuthOptions {
  return { prefix: '/auth', secret: testSecret(), database: 'sqlite::memory:', bcryptCost: 4, ...overrides }
}

/** A new, empty host app, closed when the test ends. */
export function newHost (t: TestContext, opts: FastifyServerOptions = {}): FastifyInstance {
  const host = Fastify({ logger: false, ...opts })
  t.teardown(async () => await host.close())
  return host
}

export async function registerUser (host: FastifyInstance, body: Json = hostUser, prefix = '/auth'): Promise<LightMyRequestResponse> {
  return await host.inject({ method: 'POST', url: `${prefix}/users/`, payload: body })
}

/** `POST <prefix>/token`, form-encoded, as an OAuth2 client sends it. */
export async function requestToken (host: FastifyInstance, credentials: Credentials = hostUser, prefix = '/auth'): Promise<LightMyRequestResponse> {
  return await host.inject({
    method: 'POST',
    url: `${prefix}/token`,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ ...credentials }).toString()
  })
}

/** Logs in through the token route and returns the access token. */
export async function loginAs (host: FastifyInstance, credentials: Credentials = hostUser, prefix = '/auth'): Promise<string> {
  const response = await requestToken(host, credentials, prefix)
  if (response.statusCode !== 200) throw new Error(`login failed: ${response.statusCode} ${response.body}`)
  return response.json().access_token
}

/** Registers the user through the plugin's route, then logs in: the access token. */
export async function signUp (host: FastifyInstance, credentials: Credentials = hostUser, prefix = '/auth'): Promise<string> {
  const created = await registerUser(host, credentials, prefix)
  if (created.statusCode !== 201) throw new Error(`registration failed: ${created.statusCode} ${created.body}`)
  return await loginAs(host, credentials, prefix)
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

export async function get (host: FastifyInstance, url: string, token?: string): Promise<LightMyRequestResponse> {
  return await host.inject({ method: 'GET', url, headers: token === undefined ? {} : bearer(token) })
}

/** Every `$ref` in an OpenAPI document (with where it is), and those that point at nothing in it. */
export function unresolvedRefs (doc: Json): { refs: string[], unresolved: string[] } {
  const refs: string[] = []
  const unresolved: string[] = []
  const visit = (node: unknown, at: string) => {
    if (Array.isArray(node)) {
      node.forEach((item, i) => { visit(item, `${at}/${i}`) })
      return
    }
    if (typeof node !== 'object' || node === null) return
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string') {
        refs.push(value)
        if (resolvePointer(doc, value) === undefined) unresolved.push(`${at}: ${value}`)
      } else {
        visit(value, `${at}/${key}`)
      }
    }
  }
  visit(doc, '#')
  return { refs, unresolved }
}

function resolvePointer (doc: Json, ref: string): unknown {
  if (!ref.startsWith('#/')) return undefined
  let node: unknown = doc
  for (const raw of ref.slice(2).split('/')) {
    const part = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~')
    if (typeof node !== 'object' || node === null || !(part in node)) return undefined
    node = (node as Json)[part]
  }
  return node
}

/** Every operation the plugin documents, under its prefix, as `operations` lists them. */
export function pluginOperations (prefix: string): string[] {
  return ['DELETE /admin/sessions', 'DELETE /admin/users/{username}', 'DELETE /admin/users/{username}/mfa', 'DELETE /admin/users/{username}/sessions',
    'DELETE /admin/users/{username}/sessions/{session_id}', 'DELETE /users/me/', 'DELETE /users/me/mfa/totp', 'DELETE /users/me/sessions/{session_id}',
    'GET /.well-known/jwks.json', 'GET /admin/users', 'GET /admin/users/{username}', 'GET /admin/users/{username}/sessions', 'GET /users/me/', 'GET /users/me/mfa',
    'GET /users/me/sessions', 'PATCH /admin/users/{username}', 'PATCH /users/me/', 'POST /introspect', 'POST /logout', 'POST /revoke', 'POST /token', 'POST /users/',
    'POST /users/me/mfa/recovery-codes', 'POST /users/me/mfa/totp', 'POST /users/me/mfa/totp/verify', 'POST /users/me/password']
    .map((operation) => operation.replace(' /', ` ${prefix}/`)).sort()
}

/** The operations of a document as `METHOD path`, sorted. */
export function operations (doc: Json): string[] {
  const methods = new Set(['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'])
  return Object.entries(doc.paths ?? {}).flatMap(([path, item]) =>
    Object.keys(item as Json).filter((method) => methods.has(method)).map((method) => `${method.toUpperCase()} ${path}`)).sort()
}

/** The files (not sockets, pipes or devices) this process has open. */
export function openFiles (): string[] {
  const files: string[] = []
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`)
      if (target.startsWith('/') && !target.startsWith('/dev/') && !target.startsWith('/proc/')) files.push(target)
    } catch {
      // closed between listing and reading
    }
  }
  return files
}

export const HOST_INFO = { title: 'Host API', version: '2.0.0', description: 'The host application, with token auth under /auth' }

const hello = { type: 'object', properties: { hello: { type: 'string' } } } as const
const open = { type: 'object', properties: { public: { type: 'boolean' } } } as const

/**
 * A host with its own @fastify/swagger (OpenAPI 3, its own info) and Swagger UI at /docs,
 * registered before the plugin; an open route before the plugin, a guarded one
 * (`/api/private`) and another open one (`/api/open`) after it. Not yet ready: add routes.
 */
/** The scopes of an instance without scopes of the host's, as the Authorize dialog lists them. */
export const PLUGIN_SCOPES = { me: BUILT_IN_SCOPES.me, admin: BUILT_IN_SCOPES.admin }

export async function swaggerHost (t: TestContext, opts: { openapi?: string, plugin?: Partial<TokenAuthOptions> } = {}): Promise<FastifyInstance> {
  const host = newHost(t)
  await host.register(fastifySwagger, { openapi: { openapi: opts.openapi ?? '3.0.3', info: HOST_INFO } })
  await host.register(fastifySwaggerUi, { routePrefix: '/docs' })
  host.get('/api/public', { schema: { summary: 'Open, added before the plugin', response: { 200: open } } }, async () => ({ public: true }))
  await host.register(tokenAuth, pluginOptions(opts.plugin))
  host.get('/api/private', {
    onRequest: host.currentActiveUser,
    schema: { summary: 'The host greets the logged-in user', response: { 200: hello } }
  }, async (request) => ({ hello: userOf(request).username }))
  host.get('/api/open', { schema: { summary: 'Open, added after the plugin', response: { 200: open } } }, async () => ({ public: true }))
  return host
}

/**
 * A host's own user store in memory, with neither `page` nor `setAdmin` (and `list`, or the
 * verified-address methods, when asked):
 * it cannot take the sessions with a deleted account.
 */
export function memoryStore ({ list = false, verified = false }: { list?: boolean, verified?: boolean } = {}): UserStore {
  const records = new Map<string, UserRecord>()
  const change = async (username: string, apply: (record: UserRecord) => void) => {
    const record = records.get(username)
    if (record !== undefined) apply(record)
    return record !== undefined
  }
  return {
    findByUsername: async (username) => { const record = records.get(username); return record && { ...record } },
    async create (user: NewUser) {
      if ([...records.keys()].some((name) => name.toLowerCase() === user.username.toLowerCase())) throw new UsernameTakenError(user.username)
      const record = { username: user.username, email: user.email ?? null, fullName: user.fullName ?? null, disabled: user.disabled ?? false, hashedPassword: user.hashedPassword }
      records.set(user.username, record)
      return { ...record }
    },
    setPassword: async (username, hashed) => await change(username, (record) => { record.hashedPassword = hashed }),
    setDisabled: async (username, disabled) => await change(username, (record) => { record.disabled = disabled }),
    async update (username, changes: ProfileChanges) {
      const found = await change(username, (record) => {
        if (changes.email !== undefined) record.email = changes.email
        if (changes.email === null) record.verifiedEmail = null
        if (changes.fullName !== undefined) record.fullName = changes.fullName
      })
      return found ? { ...records.get(username) as UserRecord } : undefined
    },
    delete: async (username) => records.delete(username),
    ...(list && { list: async () => [...records.values()].sort((a, b) => a.username < b.username ? -1 : 1).map((record) => ({ ...record })) }),
    ...(verified && {
      setVerifiedEmail: async (username: string, email: string) => {
        const record = records.get(username)
        if (record?.email !== email) return false
        record.verifiedEmail = email
        return true
      },
      findByVerifiedEmail: async (email: string) => [...records.values()]
        .filter((record) => record.verifiedEmail?.toLowerCase() === email.toLowerCase()).map((record) => ({ ...record }))
    })
  }
}
