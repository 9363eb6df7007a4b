import type { SwaggerTransform } from '@fastify/swagger'
import type { FastifyInstance, RouteOptions } from 'fastify'
import { securitySchemeDescription, type TagObject } from '../src/openapi/openapi-text.js'
import { badRequest, forbidden, unauthorized, unavailable } from '../src/schemas/responses.js'
import { scopesOf } from './guards.js'

type Json = Record<string, any>

/**
 * A route-level `swaggerTransform` for the token route: it adds the password-flow scheme, and
 * the definitions of the plugin's tags, to the document being built (OpenAPI 3 or Swagger 2),
 * whoever registered @fastify/swagger. The token route is registered before any route a guard
 * protects, so the scheme is there before @fastify/swagger reads a `security` requirement
 * naming it. Only what is missing is added: a scheme or tag the host defined under that name,
 * and every other field of the host's document, stay as they are.
 */
export function documentTransform (scheme: string, tokenUrl: string, tags: TagObject[], scopes: ReadonlyMap<string, string>): SwaggerTransform {
  const description = securitySchemeDescription(tokenUrl)
  const scopeList = Object.fromEntries(scopes)
  return function addToDocument ({ schema, url, ...document }) {
    const { openapiObject, swaggerObject } = document as { openapiObject?: Json, swaggerObject?: Json }
    const target = openapiObject ?? swaggerObject
    if (openapiObject !== undefined) {
      openapiObject.components ??= {}
      openapiObject.components.securitySchemes ??= {}
      openapiObject.components.securitySchemes[scheme] ??= { type: 'oauth2', description, flows: { password: { tokenUrl, scopes: { ...scopeList } } } }
    } else if (swaggerObject !== undefined) {
      swaggerObject.securityDefinitions ??= {}
      swaggerObject.securityDefinitions[scheme] ??= { type: 'oauth2', description, flow: 'password', tokenUrl, scopes: { ...scopeList } }
    }
    if (target !== undefined) {
      const defined = new Set((target.tags as TagObject[] | undefined ?? []).map((tag) => tag.name))
      const missing = tags.filter((tag) => !defined.has(tag.name))
      if (missing.length > 0) target.tags = [...target.tags as TagObject[] | undefined ?? [], ...missing.map((tag) => ({ ...tag }))]
    }
    return { schema, url }
  }
}

/** The security requirement of a protected operation: the scheme, with the scopes it needs. */
export const securityRequirement = (scheme: string, scopes: readonly string[] = []) => [{ [scheme]: [...scopes] }]

/**
 * Where a route plugin's operations are documented: the scheme its protected ones require and
 * what their operationIds start with, or false for no document.
 */
export type RouteDocs = { scheme: string, operationIdPrefix: string } | false

/** The operationIds of the plugin's operations, before any prefix. */
export const PLUGIN_OPERATION_IDS = ['token', 'revokeToken', 'register', 'readCurrentUser', 'updateCurrentUser', 'deleteCurrentUser',
  'changePassword', 'logout', 'listSessions', 'endSession',
  'listUsers', 'readUser', 'updateUser', 'deleteUser', 'listUserSessions', 'endUserSessions', 'endUserSession', 'endAllSessions',
  'readJwks', 'introspectToken', 'readAuthorizationServerMetadata',
  'requestPasswordReset', 'confirmPasswordReset', 'verifyEmail', 'requestEmailVerification',
  'readMfa', 'startTotpEnrolment', 'confirmTotp', 'replaceRecoveryCodes', 'disableTotp', 'resetUserMfa'] as const

export type PluginOperationId = typeof PLUGIN_OPERATION_IDS[number]

/** An operation's id in the document: `token`, or with the prefix `staff`, `staffToken`. */
export function prefixedOperationId (prefix: string, operationId: string): string {
  return prefix === '' ? operationId : `${prefix}${operationId.charAt(0).toUpperCase()}${operationId.slice(1)}`
}

/**
 * The documentation fields of an operation at one of its paths (see pathVariants): the hidden
 * twin and a plugin without docs leave it out; a protected operation requires the scheme with
 * the scopes its guard needs, and a public one says it needs none (`security: []`, which also
 * overrides a document-wide requirement).
 */
export function operationDocs (docs: RouteDocs, variant: { hide: boolean }, operationId: PluginOperationId, protectedBy: { scopes: readonly string[] } | 'none') {
  return {
    hide: variant.hide || docs === false,
    operationId: variant.hide || docs === false ? undefined : prefixedOperationId(docs.operationIdPrefix, operationId),
    security: docs === false ? undefined : protectedBy === 'none' ? [] : securityRequirement(docs.scheme, protectedBy.scopes)
  }
}

/** The plugin's guards a host may put on a route, by what they answer. */
export interface KnownGuards {
  authenticate: unknown[]
  currentActiveUser: unknown[]
}

/**
 * Marks every route registered from now on in `app` (and its children) whose hooks include a
 * guard as protected, with the scopes it needs. A route that documents its responses gets the
 * guard's too (401, 400 "Inactive user" for an active-user guard, 403 for scopes, 503), each
 * unless it documents that status itself, and only under Fastify's own serializer compiler: a
 * host's (a Zod type provider's, say) would be handed JSON Schemas it cannot serialize with.
 */
export function markGuardedRoutes (app: FastifyInstance, guards: KnownGuards, scheme: string): void {
  const authenticating = new Set(guards.authenticate)
  const activeOnly = new Set(guards.currentActiveUser)
  app.addHook('onRoute', function markGuarded (this: FastifyInstance, route: RouteOptions) {
    const hooks = [route.onRequest, route.preValidation, route.preHandler].flat()
    const scopes = [...new Set(hooks.flatMap((hook) => scopesOf(hook) ?? []))]
    const scoped = hooks.some((hook) => scopesOf(hook) !== undefined)
    const active = scoped || hooks.some((hook) => activeOnly.has(hook))
    if (!active && !hooks.some((hook) => authenticating.has(hook))) return
    // Copies: one schema object may be shared by routes that are not guarded.
    const schema = route.schema ?? {}
    const documented = schema.response as Record<string, unknown> | undefined
    const ownSerializer = route.serializerCompiler === undefined && this.serializerCompiler === undefined
    let response = documented
    if (documented !== undefined && ownSerializer) {
      response = { ...documented }
      if (active) response[400] ??= badRequest()
      response[401] ??= unauthorized
      if (scoped) response[403] ??= forbidden
      response[503] ??= unavailable
    }
    route.schema = { ...schema, security: schema.security ?? securityRequirement(scheme, scopes), ...(response !== undefined && { response }) }
  })
}

// What the instances documenting into one host document have taken, keyed by that document's
// `swagger` decorator (one per @fastify/swagger registration, inherited by its child contexts).
const claimed = new WeakMap<object, { schemes: Set<string>, operationIds: Set<string> }>()

/**
 * Takes a security scheme name and the operationIds the prefix makes in the host's document for
 * one instance; a problem (a second instance with the same would overwrite the first's scheme or
 * duplicate its operationIds) or undefined. Called once the instance's options are all valid.
 */
export function claimInHostDocument (host: FastifyInstance, scheme: string, operationIdPrefix: string): string | undefined {
  const document: unknown = (host as FastifyInstance & { swagger?: unknown }).swagger
  if (typeof document !== 'function') return undefined
  const taken = claimed.get(document) ?? { schemes: new Set<string>(), operationIds: new Set<string>() }
  claimed.set(document, taken)
  const ids = PLUGIN_OPERATION_IDS.map((id) => prefixedOperationId(operationIdPrefix, id))
  const clashes = ids.filter((id) => taken.operationIds.has(id))
  const problems = [
    ...taken.schemes.has(scheme) ? [`the security scheme '${scheme}' (set docs.securityScheme to another name)`] : [],
    ...clashes.length > 0 ? [`the operationIds ${clashes.slice(0, 3).map((id) => `'${id}'`).join(', ')}${clashes.length > 3 ? ' …' : ''} (set docs.operationIdPrefix to one of its own)`] : []
  ]
  if (problems.length > 0) return `another instance already has ${problems.join(' and ')} in this app's OpenAPI document`
  taken.schemes.add(scheme)
  for (const id of ids) taken.operationIds.add(id)
  return undefined
}
