import AjvCompiler from '@fastify/ajv-compiler'
import SerializerSelector from '@fastify/fast-json-stringify-compiler'
import fp from 'fastify-plugin'
import { authSchemas } from '../src/schemas/index.js'

/** Ajv's options on top of Fastify's defaults: every problem of a request part, not the first (a 422 lists them all). */
export const VALIDATION_OPTIONS = { allErrors: true } as const

// One Ajv (with the plugin's schemas and Ajv's meta-schema compiled once) and one serializer
// compiler for every instance of the plugin in the process.
const schemas = Object.fromEntries(authSchemas.map((schema) => [schema.$id as string, schema]))
const validatorCompiler = AjvCompiler()(schemas, { customOptions: VALIDATION_OPTIONS, plugins: [] })
const serializerCompiler = SerializerSelector()(schemas, {})
type ValidatorRoute = Parameters<typeof validatorCompiler>[0]
type SerializerRoute = Parameters<typeof serializerCompiler>[0]

// Compiled functions by what they were compiled from: every instance of the plugin declares the
// same route schemas (as new objects), and compiling them is most of its start-up. Bounded, in
// case an application makes instances with ever new schemas.
const MAX_COMPILED = 2000
function memo<R, F> (compile: (route: R) => F, keyOf: (route: R) => string): (route: R) => F {
  const compiled = new Map<string, F>()
  return (route) => {
    const key = keyOf(route)
    const hit = compiled.get(key)
    if (hit !== undefined) return hit
    const fn = compile(route)
    if (compiled.size < MAX_COMPILED) compiled.set(key, fn)
    return fn
  }
}
const validator = memo((route: ValidatorRoute) => validatorCompiler(route), (route) => `${route.httpPart ?? ''}\0${JSON.stringify(route.schema)}`)
const serializer = memo((route: SerializerRoute) => serializerCompiler(route), (route) => JSON.stringify(route.schema))

/**
 * Fastify's own default validator and serializer compilers (Ajv and fast-json-stringify, at
 * their default settings but for VALIDATION_OPTIONS) for the plugin's routes, knowing the
 * plugin's schemas only, and no reply serializer: replies go through their response schema, or
 * JSON.stringify without one, as in a fresh Fastify. A host's own compilers (a Zod type
 * provider, say) or reply serializer would otherwise apply to the plugin's routes and change
 * what they accept and answer. Each route is given them itself: Fastify replaces a context's
 * compilers with the root's defaults in every context a host's later `addSchema` reaches.
 */
export default fp(async function schemaCompilers (app) {
  app.addHook('onRoute', (route) => {
    route.validatorCompiler ??= validator
    // Fastify calls it for response schemas only, which always have their status.
    route.serializerCompiler ??= (definition) => serializer({ ...definition, httpStatus: definition.httpStatus ?? 'default' })
  })
  // A reply serializer, any reply serializer, takes precedence over the response schemas in
  // Fastify; none (null, as in a fresh instance) lets them serialize and filter every answer.
  app.setReplySerializer(null as unknown as Parameters<typeof app.setReplySerializer>[0])
}, { name: 'token-auth/schema-compilers', fastify: '5.x' })
