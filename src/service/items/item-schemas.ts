import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { nullable, TEXT_PATTERN } from '../../index.js'

const itemExample = { item_id: 1, owner: 'johndoe', title: 'Buy milk', description: 'Two litres, semi-skimmed' }

export const Item = Type.Object({
  item_id: Type.Integer({ description: 'The item\'s id, unique among all items', examples: [itemExample.item_id] }),
  owner: Type.String({ description: 'Username of the owner', examples: [itemExample.owner] }),
  title: Type.String({ examples: [itemExample.title] }),
  description: nullable(Type.String({ examples: [itemExample.description] }))
}, { $id: 'Item', description: 'An item of the current user\'s.', examples: [itemExample] })
export type Item = Static<typeof Item>

export const ItemList = Type.Array(Type.Unsafe<Item>(Type.Ref('Item')), {
  $id: 'ItemList',
  description: 'A page of the current user\'s items, the oldest first',
  examples: [[itemExample, { item_id: 2, owner: 'johndoe', title: 'Call the plumber', description: null }]]
})

export const ItemCreate = Type.Object({
  title: Type.String({ minLength: 1, maxLength: 200, pattern: TEXT_PATTERN, description: '1 to 200 characters', examples: [itemExample.title] }),
  description: Type.Optional(nullable(Type.String({ maxLength: 10000, pattern: TEXT_PATTERN, description: 'Up to 10,000 characters, or null', examples: [itemExample.description] })))
}, { $id: 'ItemCreate', additionalProperties: false, description: 'A new item.', examples: [{ title: itemExample.title, description: itemExample.description }] })
export type ItemCreate = Static<typeof ItemCreate>

// Path and query schemas stay inline: OpenAPI turns their properties into parameters.
export const ItemParams = Type.Object({
  // Within the id column's range in either engine (PostgreSQL's serial is 32-bit).
  item_id: Type.Integer({ minimum: 1, maximum: 2147483647, description: 'An item id from GET /users/me/items/', examples: [1] })
})
export type ItemParams = Static<typeof ItemParams>

export const ITEMS_PAGE_DEFAULT = 20

// Optional (so OpenAPI does not mark them required); validation fills in the defaults.
export const ItemsQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: ITEMS_PAGE_DEFAULT, description: 'How many items at most', examples: [ITEMS_PAGE_DEFAULT] })),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000000, default: 0, description: 'How many items to skip', examples: [0] }))
}, { additionalProperties: false })
export type ItemsQuery = Static<typeof ItemsQuery>

/** The items resource's shared schemas. */
export const itemSchemas: TSchema[] = [Item, ItemList, ItemCreate]
