import { Type, type Static } from '@sinclair/typebox'
import { MFA_GRANT_TYPE } from '../mfa/mfa.js'
import { USERNAME_EXAMPLE } from './user.js'

const ACCESS_TOKEN_EXAMPLE = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJqb2huZG9lIn0.c2lnbmF0dXJl'
const ISSUER_EXAMPLE = 'https://api.example.com/auth'
const SESSION_EXAMPLE = 'Xb1qJ0e3RkW2nT9vYc5u8A'

// RFC 7662 token introspection request, form-encoded. A missing token is refused by the route
// itself, so that it gets an OAuth2 error code.
export const IntrospectForm = Type.Object({
  token: Type.Optional(Type.String({ description: 'The token to inspect: an access token (anything else is inactive)', examples: [ACCESS_TOKEN_EXAMPLE] })),
  token_type_hint: Type.Optional(Type.String({ description: 'Accepted and ignored: only access tokens can be active', examples: ['access_token'] }))
}, {
  $id: 'TokenAuth.IntrospectForm',
  description: 'OAuth2 token introspection request (RFC 7662 §2.1)',
  examples: [{ token: ACCESS_TOKEN_EXAMPLE, token_type_hint: 'access_token' }]
})
export type IntrospectForm = Static<typeof IntrospectForm>

const activeExample = {
  active: true,
  sub: USERNAME_EXAMPLE,
  scope: 'me items',
  exp: 1767225600,
  iat: 1767223800,
  sid: SESSION_EXAMPLE,
  token_type: 'Bearer',
  iss: ISSUER_EXAMPLE,
  aud: 'fastify-token-auth'
}

export const Introspection = Type.Object({
  active: Type.Boolean({ description: 'Whether the token is usable now; when false, nothing else is said', examples: [true] }),
  sub: Type.Optional(Type.String({ description: 'The username the token was issued to', examples: [USERNAME_EXAMPLE] })),
  scope: Type.Optional(Type.String({ description: 'The scopes granted, space-separated', examples: ['me items'] })),
  exp: Type.Optional(Type.Integer({ description: 'When the token expires, in seconds since the epoch', examples: [activeExample.exp] })),
  iat: Type.Optional(Type.Integer({ description: 'When the token was issued, in seconds since the epoch', examples: [activeExample.iat] })),
  sid: Type.Optional(Type.String({ description: 'The session the token belongs to', examples: [SESSION_EXAMPLE] })),
  client_id: Type.Optional(Type.String({ description: 'The client the token was issued to, when the token names one', examples: ['web'] })),
  amr: Type.Optional(Type.Array(Type.String(), { description: 'How the login was authenticated (RFC 8176): `["pwd"]`, or `["pwd", "otp"]` with a second factor', examples: [['pwd', 'otp']] })),
  token_type: Type.Optional(Type.Literal('Bearer', { description: 'Always `Bearer`', examples: ['Bearer'] })),
  iss: Type.Optional(Type.String({ description: 'The issuer of the token', examples: [ISSUER_EXAMPLE] })),
  aud: Type.Optional(Type.String({ description: 'The audience of the token', examples: ['fastify-token-auth'] }))
}, {
  $id: 'TokenAuth.Introspection',
  additionalProperties: false,
  description: 'A token introspection response (RFC 7662 §2.2): the claims of an active token, or `{"active": false}` alone',
  examples: [activeExample, { active: false }]
})
export type Introspection = Static<typeof Introspection>

const url = (description: string, example: string) => Type.String({ format: 'uri', description, examples: [example] })

const metadataExample = {
  issuer: ISSUER_EXAMPLE,
  token_endpoint: `${ISSUER_EXAMPLE}/token`,
  jwks_uri: `${ISSUER_EXAMPLE}/.well-known/jwks.json`,
  revocation_endpoint: `${ISSUER_EXAMPLE}/revoke`,
  introspection_endpoint: `${ISSUER_EXAMPLE}/introspect`,
  grant_types_supported: ['password', 'refresh_token', MFA_GRANT_TYPE],
  scopes_supported: ['me', 'admin', 'items'],
  token_endpoint_auth_methods_supported: ['none'],
  revocation_endpoint_auth_methods_supported: ['none'],
  introspection_endpoint_auth_methods_supported: ['client_secret_basic'],
  response_types_supported: []
}

export const AuthorizationServerMetadata = Type.Object({
  issuer: url('The `iss` of the access tokens', ISSUER_EXAMPLE),
  token_endpoint: url('Where to log in and refresh (`POST`, form-encoded)', metadataExample.token_endpoint),
  jwks_uri: url('The keys that verify the access tokens (a JWK Set)', metadataExample.jwks_uri),
  revocation_endpoint: url('Where to revoke a token (RFC 7009)', metadataExample.revocation_endpoint),
  introspection_endpoint: url('Where a resource server asks whether a token is active (RFC 7662)', metadataExample.introspection_endpoint),
  grant_types_supported: Type.Array(Type.String(), { description: 'The grants the token endpoint accepts', examples: [metadataExample.grant_types_supported] }),
  scopes_supported: Type.Array(Type.String(), { description: 'Every scope this server defines', examples: [metadataExample.scopes_supported] }),
  token_endpoint_auth_methods_supported: Type.Array(Type.String(), { description: 'No client authentication: public clients', examples: [['none']] }),
  revocation_endpoint_auth_methods_supported: Type.Array(Type.String(), { description: 'No client authentication', examples: [['none']] }),
  introspection_endpoint_auth_methods_supported: Type.Array(Type.String(), {
    description: 'A resource server\'s id and secret with HTTP Basic (a bearer token granted `admin` is accepted too)',
    examples: [['client_secret_basic']]
  }),
  response_types_supported: Type.Array(Type.String(), { description: 'None: there is no authorization endpoint', examples: [[]] }),
  service_documentation: Type.Optional(url('The API\'s documentation for people', 'https://api.example.com/docs'))
}, {
  // No $id: declared inline by its one route, which is only there with a URL issuer, so that no
  // document lists it as a component without the operation.
  additionalProperties: false,
  description: 'OAuth 2.0 authorization server metadata (RFC 8414 §2)',
  examples: [metadataExample]
})
export type AuthorizationServerMetadata = Static<typeof AuthorizationServerMetadata>
