import AjvCompiler from '@fastify/ajv-compiler'
import SerializerSelector from '@fastify/fast-json-stringify-compiler'
import fp from 'fastify-plugin'
import { authSchemas } from '../src/schemas/index.js'

/** Ajv's options on top of Fastify's defaults: every problem of a request part, not the first (a 422 lists them all). */
export const VALIDATION_OPTIONS = { allErrors: true } as const

/**
 * Fastify's own default validator and serializer compilers (Ajv and fast-json-stringify, at
 * their default settings but for VALIDATION_OPTIONS) for the plugin's context, knowing the plugin's schemas only, and no
 * reply serializer: replies go through their response schema, or JSON.stringify without one,
 * as in a fresh Fastify. A host's own compilers (a Zod type provider, say) or reply serializer
 * would otherwise apply to the plugin's routes and change what they accept and answer.
 */
export default fp(async function schemaCompilers (app) {
  const schemas = Object.fromEntries(authSchemas.map((schema) => [schema.$id as string, schema]))
  app.setValidatorCompiler(AjvCompiler()(schemas, { customOptions: VALIDATION_OPTIONS, plugins: [] }))
  const serializerCompiler = SerializerSelector()(schemas, {})
  // Fastify calls it for response schemas only, which always have their status.
  app.setSerializerCompiler((route) => serializerCompiler({ ...route, httpStatus: route.httpStatus ?? 'default' }))
  // A reply serializer, any reply serializer, takes precedence over the response schemas in
  // Fastify; none (null, as in a fresh instance) lets them serialize and filter every answer.
  app.setReplySerializer(null as unknown as Parameters<typeof app.setReplySerializer>[0])
}, { name: 'token-auth/schema-compilers', fastify: '5.x' })
