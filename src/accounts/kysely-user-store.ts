import { sql, type Kysely, type Selectable } from 'kysely'
import { preparedFirstRow } from '../db/database.js'
import { isUniqueViolation } from '../db/errors.js'
import type { AuthDatabase, UsersTable } from '../db/types.js'
import { UsernameTakenError, type NewUser, type ProfileChanges, type UserPage, type UserRecord } from './user-store.js'

function toRecord (row: Selectable<UsersTable>): UserRecord {
  return {
    username: row.username,
    email: row.email,
    fullName: row.full_name,
    disabled: row.disabled !== 0,
    hashedPassword: row.hashed_password,
    isAdmin: row.is_admin !== 0,
    createdAt: row.created_at,
    verifiedEmail: row.verified_email
  }
}

/** `text` for a LIKE pattern with `!` as its escape character: its `%`, `_` and `!` match themselves. */
const likeLiteral = (text: string) => text.replace(/[!%_]/g, (c) => `!${c}`)

/** The built-in user store: the `users` table of a Kysely database (SQLite or PostgreSQL). */
export function createKyselyUserStore (db: Kysely<AuthDatabase>) {
  const byUsername = preparedFirstRow(db, db.selectFrom('users').selectAll().where('username', '=', '').compile())

  return {
    /** Exact, case-sensitive match: `TIM` is not `tim`. */
    async findByUsername (username: string): Promise<UserRecord | undefined> {
      const row = await byUsername([username])
      return row === undefined ? undefined : toRecord(row)
    },

    /** Throws UsernameTakenError when the name exists in any letter case; the unique index decides, so concurrent calls cannot both win. */
    async create (user: NewUser): Promise<UserRecord> {
      const now = new Date().toISOString()
      try {
        const row = await db.insertInto('users').values({
          username: user.username,
          email: user.email ?? null,
          full_name: user.fullName ?? null,
          hashed_password: user.hashedPassword,
          disabled: user.disabled === true ? 1 : 0,
          is_admin: user.isAdmin === true ? 1 : 0,
          created_at: now,
          updated_at: now
        }).returningAll().executeTakeFirstOrThrow()
        return toRecord(row)
      } catch (error) {
        if (isUniqueViolation(error)) throw new UsernameTakenError(user.username)
        throw error
      }
    },

    /** Returns false when there is no such user. Sessions are the caller's to end (see the session store). */
    async setPassword (username: string, hashedPassword: string): Promise<boolean> {
      const result = await db.updateTable('users')
        .set({ hashed_password: hashedPassword, updated_at: new Date().toISOString() })
        .where('username', '=', username).executeTakeFirst()
      return result.numUpdatedRows > 0n
    },

    /** Returns false when there is no such user, or its hash is no longer `current`. */
    async replacePassword (username: string, current: string, next: string): Promise<boolean> {
      const result = await db.updateTable('users')
        .set({ hashed_password: next, updated_at: new Date().toISOString() })
        .where('username', '=', username).where('hashed_password', '=', current).executeTakeFirst()
      return result.numUpdatedRows > 0n
    },

    /** Returns false when there is no such user. */
    async setDisabled (username: string, disabled: boolean): Promise<boolean> {
      const result = await db.updateTable('users')
        .set({ disabled: disabled ? 1 : 0, updated_at: new Date().toISOString() })
        .where('username', '=', username).executeTakeFirst()
      return result.numUpdatedRows > 0n
    },

    async update (username: string, changes: ProfileChanges): Promise<UserRecord | undefined> {
      const row = await db.updateTable('users')
        .set({
          ...(changes.email !== undefined && { email: changes.email }),
          // No address, nothing proven: a reset has nowhere to go.
          ...(changes.email === null && { verified_email: null }),
          ...(changes.fullName !== undefined && { full_name: changes.fullName }),
          updated_at: new Date().toISOString()
        })
        .where('username', '=', username).returningAll().executeTakeFirst()
      return row === undefined ? undefined : toRecord(row)
    },

    /** The account's sessions and items go with it, by foreign key. */
    async delete (username: string): Promise<boolean> {
      const result = await db.deleteFrom('users').where('username', '=', username).executeTakeFirst()
      return result.numDeletedRows > 0n
    },

    async list (): Promise<UserRecord[]> {
      const rows = await db.selectFrom('users').selectAll().orderBy('username').execute()
      return rows.map(toRecord)
    },

    /** Returns false when there is no such user. Sessions are the caller's to end. */
    async setAdmin (username: string, isAdmin: boolean): Promise<boolean> {
      const result = await db.updateTable('users')
        .set({ is_admin: isAdmin ? 1 : 0, updated_at: new Date().toISOString() })
        .where('username', '=', username).executeTakeFirst()
      return result.numUpdatedRows > 0n
    },

    async page ({ limit, offset, prefix }: UserPage): Promise<UserRecord[]> {
      let query = db.selectFrom('users').selectAll()
      if (prefix !== undefined && prefix !== '') {
        // Usernames are ASCII, so lower() folds them alike in both engines.
        query = query.where(sql<boolean>`lower(${sql.ref('username')}) like lower(${`${likeLiteral(prefix)}%`}) escape '!'`)
      }
      const rows = await query.orderBy('username').limit(limit).offset(offset).execute()
      return rows.map(toRecord)
    },

    /** Only while `email` is still the account's address: a verification of an address since replaced proves nothing. */
    async setVerifiedEmail (username: string, email: string): Promise<boolean> {
      const result = await db.updateTable('users')
        .set({ verified_email: email, updated_at: new Date().toISOString() })
        .where('username', '=', username).where('email', '=', email).executeTakeFirst()
      return result.numUpdatedRows > 0n
    },

    /** Ignoring letter case, as mail servers do in practice; ordered by username. */
    async findByVerifiedEmail (email: string): Promise<UserRecord[]> {
      const rows = await db.selectFrom('users').selectAll()
        .where(sql<boolean>`lower(${sql.ref('verified_email')}) = lower(${email})`)
        .orderBy('username').execute()
      return rows.map(toRecord)
    },

    count: async () => await countUsers(db)
  }
}

export type KyselyUserStore = ReturnType<typeof createKyselyUserStore>

/** How many accounts the `users` table holds. */
export async function countUsers (db: Kysely<AuthDatabase>): Promise<number> {
  const { count } = await db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow()
  return Number(count)
}
