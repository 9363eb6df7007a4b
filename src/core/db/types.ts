import type { Generated } from 'kysely'

export interface UsersTable {
  id: Generated<number>
  username: string
  email: string | null
  full_name: string | null
  hashed_password: string
  // 0 or 1: one representation in every engine.
  disabled: number
  /** Incremented by each password change; tokens of an older version are refused. */
  token_version: Generated<number>
  created_at: string
  updated_at: string
}

export interface ItemsTable {
  id: Generated<number>
  owner_id: number
  title: string
  description: string | null
  created_at: string
}

/** The tables the auth plugin owns. */
export interface AuthDatabase {
  users: UsersTable
}

/** The tables the standalone service adds for its items resource. */
// A type alias (not an interface) so Kysely's withTables<>() accepts it.
export type ItemsDatabase = {
  items: ItemsTable
}
