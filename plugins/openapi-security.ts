import type { SwaggerTransform } from '@fastify/swagger'
import type { FastifyInstance, RouteOptions } from 'fastify'

/** The default name of the OAuth2 password-flow scheme the plugin's operations (and the routes its guards protect) require. */
export const SECURITY_SCHEME = 'OAuth2PasswordBearer'

type Json = Record<string, any>

/**
 * A route-level `swaggerTransform` for the token route: it adds the password-flow scheme to
 * the document being built (OpenAPI 3 or Swagger 2), whoever registered @fastify/swagger. The
 * token route is registered before any route a guard protects, so the scheme is there before
 * @fastify/swagger reads a `security` requirement naming it. A scheme the host already defined
 * under that name is left as it is.
 */
export function securitySchemeTransform (scheme: string, tokenUrl: string): SwaggerTransform {
  return function addSecurityScheme ({ schema, url, ...document }) {
    const { openapiObject, swaggerObject } = document as { openapiObject?: Json, swaggerObject?: Json }
    if (openapiObject !== undefined) {
      openapiObject.components ??= {}
      openapiObject.components.securitySchemes ??= {}
      openapiObject.components.securitySchemes[scheme] ??= { type: 'oauth2', flows: { password: { tokenUrl, scopes: {} } } }
    } else if (swaggerObject !== undefined) {
      swaggerObject.securityDefinitions ??= {}
      swaggerObject.securityDefinitions[scheme] ??= { type: 'oauth2', flow: 'password', tokenUrl, scopes: {} }
    }
    return { schema, url }
  }
}

/** The security requirement of a protected operation. */
export const securityRequirement = (scheme: string) => [{ [scheme]: [] }]

/** Where a route plugin's operations are documented: the scheme its protected ones require, or false for no document. */
export type RouteDocs = { scheme: string } | false

/**
 * The documentation fields of an operation at one of its paths (see pathVariants): the hidden
 * twin and a plugin without docs leave it out, and a protected operation requires the scheme.
 */
export function operationDocs (docs: RouteDocs, variant: { hide: boolean }, operationId: string, protectedBy: 'guard' | 'none') {
  return {
    hide: variant.hide || docs === false,
    operationId: variant.hide ? undefined : operationId,
    security: protectedBy === 'guard' && docs !== false ? securityRequirement(docs.scheme) : undefined
  }
}

/** Marks every route registered from now on in `app` (and its children) whose hooks include a guard as protected. */
export function markGuardedRoutes (app: FastifyInstance, guards: unknown[], scheme: string): void {
  const known = new Set(guards)
  app.addHook('onRoute', (route: RouteOptions) => {
    const hooks = [route.onRequest, route.preValidation, route.preHandler].flat()
    if (!hooks.some((hook) => known.has(hook))) return
    // A copy: one schema object may be shared by routes that are not guarded.
    const schema = route.schema ?? {}
    route.schema = { ...schema, security: schema.security ?? securityRequirement(scheme) }
  })
}
