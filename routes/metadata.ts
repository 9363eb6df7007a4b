import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { operationDocs, type RouteDocs } from '../plugins/openapi-security.js'
import { pathVariants } from '../src/route-paths.js'
import { MFA_GRANT_TYPE } from '../src/mfa/mfa.js'
import { AuthorizationServerMetadata } from '../src/schemas/discovery.js'
import { refusedByServer } from '../src/schemas/responses.js'

/** Where RFC 8414 §3 puts the document, below the issuer's path (or, §3.1, above it). */
export const METADATA_PATH = '/.well-known/oauth-authorization-server'

// Clients may keep the document an hour: it changes only with the configuration.
const CACHE_CONTROL = 'public, max-age=3600'

export interface MetadataRoutesOptions {
  /** The document, worked out once at start-up. */
  metadata: AuthorizationServerMetadata
  /** The route's path in the context it is registered in. */
  path: string
  /** The operation's docs; false leaves it out of every document (the copy at the root). */
  docs: RouteDocs
}

/** The absolute URLs of an instance's endpoints under `base` (its public URL and full prefix). */
export function authorizationServerMetadata (issuer: string, base: string, scopes: readonly string[]): AuthorizationServerMetadata {
  return {
    issuer,
    token_endpoint: `${base}/token`,
    jwks_uri: `${base}/.well-known/jwks.json`,
    revocation_endpoint: `${base}/revoke`,
    introspection_endpoint: `${base}/introspect`,
    grant_types_supported: ['password', 'refresh_token', MFA_GRANT_TYPE],
    scopes_supported: [...scopes],
    token_endpoint_auth_methods_supported: ['none'],
    revocation_endpoint_auth_methods_supported: ['none'],
    introspection_endpoint_auth_methods_supported: ['client_secret_basic'],
    response_types_supported: []
  }
}

/** RFC 8414 authorization server metadata: the endpoints, grants and scopes of this instance. */
const metadataRoutes: FastifyPluginAsyncTypebox<MetadataRoutesOptions> = async function metadataRoutes (app, opts) {
  const document = Object.freeze(opts.metadata)
  for (const { url, ...variant } of pathVariants(app, opts.path)) {
    app.get(url, {
      schema: {
        ...operationDocs(opts.docs, variant, 'readAuthorizationServerMetadata', 'none'),
        summary: 'Discover the endpoints (RFC 8414)',
        description: 'The OAuth 2.0 authorization server metadata: the issuer of the access tokens, the absolute URLs of the token, ' +
          'revocation and introspection endpoints and of the keys, the grants and every scope. Served when the issuer is a URL ' +
          '(`publicUrl`, the service\'s `PUBLIC_URL`). Cacheable for an hour.',
        tags: ['auth'],
        response: {
          200: { ...AuthorizationServerMetadata, description: `The metadata, with \`Cache-Control: ${CACHE_CONTROL}\`` },
          '4xx': refusedByServer
        }
      }
    }, async (_request, reply) => {
      reply.header('Cache-Control', CACHE_CONTROL)
      return document
    })
  }
}

export default metadataRoutes
