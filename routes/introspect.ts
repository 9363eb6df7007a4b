import formbody from '@fastify/formbody'
import type { FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { OAUTH2_ERRORS } from '../plugins/errors.js'
import { bearerToken, MAX_AUTHORIZATION_LENGTH } from '../plugins/guards.js'
import type { Internals } from '../plugins/internals.js'
import { operationDocs, type RouteDocs } from '../plugins/openapi-security.js'
import { addressLimit } from '../plugins/throttle.js'
import { basicCredentials, createResourceServerCheck } from '../src/clients/resource-servers.js'
import { errors, NO_STORE } from '../src/errors.js'
import { IntrospectForm, Introspection } from '../src/schemas/discovery.js'
import { ref } from '../src/schemas/ref.js'
import { errorResponse, unavailable } from '../src/schemas/responses.js'
import { ADMIN_SCOPE } from '../src/scopes/scopes.js'
import { isPromise } from '../src/sessions/session-lookup.js'
import { pathVariants } from '../src/route-paths.js'
import type { RememberedClaims } from '../src/tokens/verified-tokens.js'

export interface IntrospectRoutesOptions {
  internals: Internals
  docs: RouteDocs
  /** The `iss` and `aud` of the instance's tokens, which an active token's answer repeats. */
  issuer: string
  audience: string
  /** Client id → SHA-256 (hex) of its secret. */
  resourceServers: Readonly<Record<string, string>>
}

// A token of ours is a few hundred characters; the guards refuse bearer tokens over 8 KB.
const INTROSPECT_BODY_LIMIT = 12_288

const INACTIVE = Object.freeze({ active: false as const })

/** A form field as given, or undefined when absent or empty. */
const given = (value: string | undefined) => value === undefined || value === '' ? undefined : value

/**
 * RFC 7662 token introspection, for resource servers (HTTP Basic, `resourceServers`) and for
 * bearer tokens granted `admin`. An access token is active while the guards would admit it:
 * valid, its session live, its user there and enabled. Anything else is `{"active": false}`.
 */
const introspectRoutes: FastifyPluginAsyncTypebox<IntrospectRoutesOptions> = async function introspectRoutes (app, opts) {
  const { tokens, live, audit } = opts.internals
  const isResourceServer = createResourceServerCheck(opts.resourceServers)
  app.removeAllContentTypeParsers()
  await app.register(formbody)
  app.addHook('onSend', async (_request, reply) => {
    reply.headers({ ...NO_STORE })
  })
  await app.register(addressLimit, { throttle: opts.internals.throttle, limit: 'introspect' })

  /** Whether the token's session is live, unexpired, its user's, and the user enabled: what the guards check. */
  async function activeClaims (token: string): Promise<RememberedClaims | undefined> {
    const claims = tokens.claimsOf(token)
    if (claims === undefined) return undefined
    const lookedUp = live(claims.sid)
    const found = isPromise(lookedUp) ? await lookedUp : lookedUp
    const ok = found !== undefined && found.user.username === claims.sub && found.expiresAt > new Date().toISOString() && !found.user.disabled
    return ok ? claims : undefined
  }

  /** Refuses a caller without usable credentials: one audit line, never the credentials. */
  function refuse (request: FastifyRequest, reason: string, fields: Record<string, string> = {}): never {
    audit(request, 'introspection.refused', { reason, ...fields })
    throw errors.INVALID_CLIENT.create()
  }

  /** Lets the caller through, or throws its 401 (403 for a bearer token without `admin`). */
  async function admitCaller (request: FastifyRequest): Promise<void> {
    const header = request.headers.authorization
    if (header !== undefined && header.length > MAX_AUTHORIZATION_LENGTH) refuse(request, 'malformed_credentials')
    const basic = basicCredentials(header)
    if (basic !== undefined) {
      // An unknown id is not logged: it may be a secret typed in the wrong field.
      if (!isResourceServer(basic.id, basic.secret)) {
        refuse(request, Object.hasOwn(opts.resourceServers, basic.id) ? 'wrong_secret' : 'unknown_client',
          Object.hasOwn(opts.resourceServers, basic.id) ? { clientId: basic.id } : {})
      }
      return
    }
    const bearer = bearerToken(header)
    if (bearer === undefined) refuse(request, header === undefined ? 'no_credentials' : 'malformed_credentials')
    const claims = await activeClaims(bearer)
    if (claims === undefined) refuse(request, 'invalid_bearer_token')
    if (!claims.scopes.includes(ADMIN_SCOPE)) {
      audit(request, 'introspection.refused', { reason: 'insufficient_scope', username: claims.sub, session: claims.sid })
      throw errors.INTROSPECTION_SCOPE.create()
    }
  }

  for (const { url, ...variant } of pathVariants(app, '/introspect')) {
    app.post(url, {
      bodyLimit: INTROSPECT_BODY_LIMIT,
      config: { ...OAUTH2_ERRORS },
      // The caller first: without credentials, its body is not even read.
      onRequest: async (request) => { await admitCaller(request) },
      schema: {
        ...operationDocs(opts.docs, variant, 'introspectToken', 'none'),
        summary: 'Introspect a token (RFC 7662)',
        description: 'Tells a resource server whether an access token is active, and its claims: active while the token would be ' +
          'admitted by the guards (valid, unexpired, its session not ended, its account there and enabled). Anything else (a refresh ' +
          'token, an ended session, garbage) is `{"active": false}` and nothing more. The caller authenticates with HTTP Basic as a ' +
          'resource server (`resourceServers`, the service\'s `INTROSPECTION_CLIENTS`), or with a bearer token granted `admin`. ' +
          'Form-encoded; answered with `Cache-Control: no-store`.',
        tags: ['auth'],
        consumes: ['application/x-www-form-urlencoded'],
        body: ref(IntrospectForm),
        response: {
          200: ref(Introspection, 'The token\'s state: its claims when active, else `{"active": false}` alone'),
          400: errorResponse([errors.MISSING_FIELD.answer(['token']), errors.REPEATED_FIELD.answer(['token']), errors.NOT_A_FORM], { oauth2: true }),
          401: errorResponse([errors.INVALID_CLIENT], { oauth2: true }),
          403: errorResponse([errors.INTROSPECTION_SCOPE], { oauth2: true }),
          413: errorResponse([errors.BODY_TOO_LARGE], { oauth2: true, description: 'The body is larger than an introspection request can be' }),
          429: errorResponse([errors.TOO_MANY_REQUESTS], { oauth2: true, description: 'Too many requests from this address: retry after the `Retry-After` seconds' }),
          503: unavailable
        }
      }
    }, async (request) => {
      const token = given(request.body.token)
      if (token === undefined) throw errors.MISSING_FIELD.create(['token'])
      const claims = await activeClaims(token)
      if (claims === undefined) return INACTIVE
      // Tokens issued before RFC 9068 claims name no client.
      const clientId = claims.client_id
      return {
        active: true,
        sub: claims.sub,
        scope: claims.scope,
        exp: claims.exp,
        iat: claims.iat,
        sid: claims.sid,
        ...(typeof clientId === 'string' && { client_id: clientId }),
        ...(Array.isArray(claims.amr) && { amr: claims.amr }),
        token_type: 'Bearer' as const,
        iss: opts.issuer,
        aud: opts.audience
      }
    })
  }
}

export default introspectRoutes
