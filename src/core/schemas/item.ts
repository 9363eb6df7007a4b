import { Type, type Static } from '@sinclair/typebox'
import { nullable, TEXT_PATTERN } from './ref.js'

export const Item = Type.Object({
  item_id: Type.Integer(),
  owner: Type.String({ description: 'Username of the owner' }),
  title: Type.String(),
  description: nullable(Type.String())
}, { $id: 'Item' })
export type Item = Static<typeof Item>

export const ItemList = Type.Array(Type.Unsafe<Item>(Type.Ref('Item')), { $id: 'ItemList' })

export const ItemCreate = Type.Object({
  title: Type.String({ minLength: 1, maxLength: 200, pattern: TEXT_PATTERN }),
  description: Type.Optional(nullable(Type.String({ maxLength: 10000, pattern: TEXT_PATTERN })))
}, { $id: 'ItemCreate', additionalProperties: false })
export type ItemCreate = Static<typeof ItemCreate>

// Path and query schemas stay inline: OpenAPI turns their properties into parameters.
export const ItemParams = Type.Object({
  // Within the id column's range in either engine (PostgreSQL's serial is 32-bit).
  item_id: Type.Integer({ minimum: 1, maximum: 2147483647 })
})
export type ItemParams = Static<typeof ItemParams>

export const ITEMS_PAGE_DEFAULT = 20

// Optional (so OpenAPI does not mark them required); validation fills in the defaults.
export const ItemsQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: ITEMS_PAGE_DEFAULT })),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000000, default: 0 }))
}, { additionalProperties: false })
export type ItemsQuery = Static<typeof ItemsQuery>
