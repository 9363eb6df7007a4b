import type { Generated, Kysely } from 'kysely'
import type { AuthDatabase } from '../../index.js'
import type { Item } from './item-schemas.js'

export interface ItemsTable {
  id: Generated<number>
  owner_id: number
  title: string
  description: string | null
  created_at: string
}

/** The tables the standalone service adds for its items resource. */
// A type alias (not an interface) so Kysely's withTables<>() accepts it.
export type ItemsDatabase = {
  items: ItemsTable
}

export type ItemsRepository = ReturnType<typeof createItemsRepository>

/**
 * Items belong to a user, named by username (what `userOf(request)` gives). Every query is
 * scoped to the owner, so another user's item is simply not found.
 */
export function createItemsRepository (db: Kysely<AuthDatabase & ItemsDatabase>) {
  const withOwner = () => db.selectFrom('items')
    .innerJoin('users', 'users.id', 'items.owner_id')
    .select(['items.id as item_id', 'users.username as owner', 'items.title', 'items.description'])

  return {
    async list (owner: string, limit: number, offset: number): Promise<Item[]> {
      return await withOwner().where('users.username', '=', owner)
        .orderBy('items.id').limit(limit).offset(offset).execute()
    },

    async get (owner: string, itemId: number): Promise<Item | undefined> {
      return await withOwner().where('users.username', '=', owner).where('items.id', '=', itemId).executeTakeFirst()
    },

    async create (owner: string, item: { title: string, description?: string | null }): Promise<Item> {
      const { id } = await db.insertInto('items').values({
        owner_id: db.selectFrom('users').select('id').where('username', '=', owner),
        title: item.title,
        description: item.description ?? null,
        created_at: new Date().toISOString()
      }).returning('id').executeTakeFirstOrThrow()
      return await withOwner().where('items.id', '=', id).executeTakeFirstOrThrow()
    },

    /** Returns false when the owner has no such item. */
    async delete (owner: string, itemId: number): Promise<boolean> {
      const result = await db.deleteFrom('items')
        .where('id', '=', itemId)
        .where('owner_id', '=', db.selectFrom('users').select('id').where('username', '=', owner))
        .executeTakeFirst()
      return result.numDeletedRows > 0n
    }
  }
}
