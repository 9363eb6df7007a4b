import { Type, type Static } from '@sinclair/typebox'

// The JWK Set (RFC 7517 §5) of the keys that verify the access tokens.

const jwkExample = {
  kty: 'EC',
  crv: 'P-256',
  x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU',
  y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0',
  kid: 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs',
  alg: 'ES256',
  use: 'sig'
}

export const Jwk = Type.Object({
  kty: Type.String({ description: 'Key type: EC, OKP or RSA', examples: ['EC'] }),
  kid: Type.String({ description: 'The key\'s id, its RFC 7638 thumbprint: the `kid` of the tokens it signed', examples: [jwkExample.kid] }),
  alg: Type.String({ description: 'The algorithm it verifies: ES256, EdDSA or RS256', examples: ['ES256'] }),
  use: Type.Literal('sig', { description: 'Signatures', examples: ['sig'] }),
  crv: Type.Optional(Type.String({ description: 'EC and OKP: the curve', examples: ['P-256'] })),
  x: Type.Optional(Type.String({ description: 'EC and OKP: the public point\'s x (base64url)', examples: [jwkExample.x] })),
  y: Type.Optional(Type.String({ description: 'EC: the public point\'s y (base64url)', examples: [jwkExample.y] })),
  n: Type.Optional(Type.String({ description: 'RSA: the modulus (base64url)', examples: ['0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw'] })),
  e: Type.Optional(Type.String({ description: 'RSA: the exponent (base64url)', examples: ['AQAB'] }))
}, { $id: 'TokenAuth.Jwk', description: 'A public key (RFC 7517): never a private part', examples: [jwkExample] })

export const JwkSet = Type.Object({
  keys: Type.Array(Type.Unsafe<Static<typeof Jwk>>(Type.Ref('TokenAuth.Jwk')), {
    description: 'The keys valid for verification now: the signing key, one published ahead of a rotation, and retired ones until their tokens expire',
    examples: [[jwkExample]]
  })
}, {
  $id: 'TokenAuth.JwkSet',
  description: 'The public keys that verify the access tokens (RFC 7517 §5); empty under HS256, whose key is the shared secret',
  examples: [{ keys: [jwkExample] }]
})
export type JwkSet = Static<typeof JwkSet>
