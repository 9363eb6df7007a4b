import { Type, type Static, type TSchema } from '@sinclair/typebox'

/**
 * A `$ref` to a shared schema, typed as the schema it points at: routes reference the one
 * declaration by `$id` (so OpenAPI names it once under components) and keep static types.
 * A description says, for a response, when that status is answered.
 */
export function ref<T extends TSchema> (schema: T, description?: string) {
  if (schema.$id === undefined) throw new Error('ref() needs a schema with an $id')
  return Type.Unsafe<Static<T>>(description === undefined ? Type.Ref(schema.$id) : { $ref: schema.$id, description })
}

/** A response without a body (204, or RFC 7009's empty 200), saying when it is answered. */
export const noContent = (description: string) => Type.Unsafe<undefined>({ type: 'null', description })

/**
 * `T | null` as `type: [T, "null"]` rather than TypeBox's `anyOf`: the same for validation and
 * OpenAPI 3.1, but fast-json-stringify serializes it directly instead of trying each branch.
 */
export function nullable<T extends TSchema & { type: string }> (schema: T) {
  return Type.Unsafe<Static<T> | null>({ ...schema, type: [schema.type, 'null'] })
}

/** Free text: anything but NUL, which PostgreSQL cannot store in a text column. */
export const TEXT_PATTERN = '^[^\\u0000]*$'
