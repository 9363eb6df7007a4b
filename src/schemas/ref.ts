import { Type, type Static, type TSchema } from '@sinclair/typebox'

/**
 * A `$ref` to a shared schema, typed as the schema it points at: routes reference the one
 * declaration by `$id` (so OpenAPI names it once under components) and keep static types.
 */
export function ref<T extends TSchema> (schema: T) {
  if (schema.$id === undefined) throw new Error('ref() needs a schema with an $id')
  return Type.Unsafe<Static<T>>(Type.Ref(schema.$id))
}
