import AjvCompiler from '@fastify/ajv-compiler'
import SerializerSelector from '@fastify/fast-json-stringify-compiler'

// The compilers of the service's own routes (items, health, metrics, the docs): Fastify's
// defaults, made once per process, each compiled function kept by the JSON of its schema (at
// most 2000): an app built again, or the same schema under another status, compiles nothing new.
// The plugin's routes bring compilers of their own (plugins/schema-compilers.ts).

const MAX_COMPILED = 2000

type Factory<Route, Compiled> = (externalSchemas: Record<string, unknown>, options?: unknown) => (route: Route) => Compiled

/** `factory` with each compiler it builds remembered by its schemas and options, and each function a compiler builds by `keyOf`. */
function remembering<Route, Compiled> (factory: Factory<Route, Compiled>, keyOf: (route: Route) => string): Factory<Route, Compiled> {
  const compilers = new Map<string, (route: Route) => Compiled>()
  return (externalSchemas, options) => {
    const compilerKey = `${JSON.stringify(externalSchemas)}\0${JSON.stringify(options) ?? ''}`
    const known = compilers.get(compilerKey)
    if (known !== undefined) return known
    const compile = factory(externalSchemas, options)
    const compiled = new Map<string, Compiled>()
    const compiler = (route: Route) => {
      const key = keyOf(route)
      const hit = compiled.get(key)
      if (hit !== undefined) return hit
      const fn = compile(route)
      if (compiled.size < MAX_COMPILED) compiled.set(key, fn)
      return fn
    }
    if (compilers.size < MAX_COMPILED) compilers.set(compilerKey, compiler)
    return compiler
  }
}

type ValidatorFactory = ReturnType<typeof AjvCompiler>
type SerializerFactory = ReturnType<typeof SerializerSelector>
type ValidatorRoute = Parameters<ReturnType<ValidatorFactory>>[0]
type SerializerRoute = Parameters<ReturnType<SerializerFactory>>[0]

/**
 * Ajv as Fastify makes it. A route of the service validates no headers: Fastify lower-cases a
 * headers schema only for its own default compiler, which a compilers factory replaces.
 */
export const buildValidator = remembering((AjvCompiler() as Factory<ValidatorRoute, ReturnType<ReturnType<ValidatorFactory>>>), (route) => {
  if (route.httpPart === 'headers') throw new Error(`${route.method} ${route.url}: the service's own routes take no headers schema`)
  return JSON.stringify(route.schema)
}) as ValidatorFactory

/** fast-json-stringify as Fastify makes it. */
export const buildSerializer = remembering((SerializerSelector() as Factory<SerializerRoute, ReturnType<ReturnType<SerializerFactory>>>),
  (route) => JSON.stringify(route.schema)) as SerializerFactory
