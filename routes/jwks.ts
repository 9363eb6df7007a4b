import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { AccessTokens } from '../plugins/access-tokens.js'
import { operationDocs, type RouteDocs } from '../plugins/openapi-security.js'
import { JwkSet } from '../src/schemas/jwks.js'
import { ref } from '../src/schemas/ref.js'
import { refusedByServer } from '../src/schemas/responses.js'

export interface JwksRoutesOptions {
  tokens: Pick<AccessTokens, 'jwks'>
  /** How long a verifier may keep the set. */
  cacheSeconds: number
  docs: RouteDocs
}

/** `GET /.well-known/jwks.json` (RFC 7517): the public keys that verify the access tokens. */
const jwksRoutes: FastifyPluginAsyncTypebox<JwksRoutesOptions> = async function jwksRoutes (app, opts) {
  // A verifier refreshes within the lead time a new key is published ahead of signing.
  const cacheControl = `public, max-age=${opts.cacheSeconds}`
  app.get('/.well-known/jwks.json', {
    schema: {
      ...operationDocs(opts.docs, { hide: false }, 'readJwks', 'none'),
      summary: 'The token verification keys (JWKS)',
      description: 'The public keys that verify the access tokens (RFC 7517), for services that check tokens offline: match a token\'s `kid`, ' +
        'pin its `alg`. A new key appears here before it signs, and a retired one stays until the last token it signed has expired; ' +
        '`Cache-Control: max-age` says how long to keep the set. Empty under HS256, whose key is the shared secret.',
      tags: ['auth'],
      response: { 200: ref(JwkSet, 'The keys valid for verification now'), '4xx': refusedByServer }
    }
  }, async (_request, reply) => {
    reply.header('cache-control', cacheControl)
    return { keys: opts.tokens.jwks() }
  })
}

export default jwksRoutes
