import AjvCompiler from '@fastify/ajv-compiler'
import SerializerSelector from '@fastify/fast-json-stringify-compiler'
import fp from 'fastify-plugin'
import { authSchemas } from '../src/core/schemas/index.js'

/**
 * Fastify's own default validator and serializer compilers (Ajv and fast-json-stringify, at
 * their default settings) for the plugin's context, knowing the plugin's schemas only, and
 * plain JSON for replies without a schema. A host's own compilers (a Zod type provider, say)
 * or reply serializer would otherwise apply to the plugin's routes and change what they accept
 * and answer.
 */
export default fp(async function schemaCompilers (app) {
  const schemas = Object.fromEntries(authSchemas.map((schema) => [schema.$id as string, schema]))
  app.setValidatorCompiler(AjvCompiler()(schemas, { customOptions: {}, plugins: [] }))
  const serializerCompiler = SerializerSelector()(schemas, {})
  // Fastify calls it for response schemas only, which always have their status.
  app.setSerializerCompiler((route) => serializerCompiler({ ...route, httpStatus: route.httpStatus ?? 'default' }))
  app.setReplySerializer((payload) => JSON.stringify(payload))
}, { name: 'token-auth/schema-compilers', fastify: '5.x' })
