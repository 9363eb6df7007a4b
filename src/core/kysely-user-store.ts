import type { Kysely, Selectable } from 'kysely'
import { isPromise, preparedFirstRow, type MaybePromise } from './db/database.js'
import { isUniqueViolation } from './db/errors.js'
import type { AuthDatabase, UsersTable } from './db/types.js'
import { PROFILE_LOOKUP, type UserProfile } from './profile-lookup.js'
import { UsernameTakenError, type NewUser, type UserRecord } from './user-store.js'

type ProfileRow = Pick<Selectable<UsersTable>, 'username' | 'email' | 'full_name' | 'disabled' | 'token_version'>

function toRecord (row: Selectable<UsersTable>): UserRecord {
  return {
    username: row.username,
    email: row.email,
    fullName: row.full_name,
    disabled: row.disabled !== 0,
    hashedPassword: row.hashed_password,
    tokenVersion: row.token_version
  }
}

/** The built-in user store: the `users` table of a Kysely database (SQLite or PostgreSQL). */
export function createKyselyUserStore (db: Kysely<AuthDatabase>) {
  const byUsername = preparedFirstRow(db, db.selectFrom('users').selectAll().where('username', '=', '').compile())
  // The lookup behind every authenticated request: built and compiled once (building Kysely's
  // query tree per request cost more than running it), prepared once where the engine allows,
  // and only the public columns, so no hash is read and no record is rebuilt per request.
  const profileByUsername = preparedFirstRow(db, db.selectFrom('users')
    .select(['username', 'email', 'full_name', 'disabled', 'token_version']).where('username', '=', '').compile())
  const toProfile = (row: ProfileRow | undefined): UserProfile | undefined => row === undefined
    ? undefined
    : { user: { username: row.username, email: row.email, full_name: row.full_name, disabled: row.disabled !== 0 }, tokenVersion: row.token_version }

  const store = {
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
          created_at: now,
          updated_at: now
        }).returningAll().executeTakeFirstOrThrow()
        return toRecord(row)
      } catch (error) {
        if (isUniqueViolation(error)) throw new UsernameTakenError(user.username)
        throw error
      }
    },

    /**
     * Changes a password and so ends every session made with the old one (its tokens' version
     * is passed). Returns false when there is no such user.
     */
    async setPassword (username: string, hashedPassword: string): Promise<boolean> {
      const result = await db.updateTable('users')
        .set((eb) => ({ hashed_password: hashedPassword, token_version: eb('token_version', '+', 1), updated_at: new Date().toISOString() }))
        .where('username', '=', username).executeTakeFirst()
      return result.numUpdatedRows > 0n
    },

    /** Stores a new hash of the same password (a rehash at another cost): sessions go on. */
    async replaceHash (username: string, hashedPassword: string): Promise<void> {
      await db.updateTable('users').set({ hashed_password: hashedPassword }).where('username', '=', username).execute()
    },

    /** Returns false when there is no such user. */
    async setDisabled (username: string, disabled: boolean): Promise<boolean> {
      const result = await db.updateTable('users')
        .set({ disabled: disabled ? 1 : 0, updated_at: new Date().toISOString() })
        .where('username', '=', username).executeTakeFirst()
      return result.numUpdatedRows > 0n
    },

    async list (): Promise<UserRecord[]> {
      const rows = await db.selectFrom('users').selectAll().orderBy('username').execute()
      return rows.map(toRecord)
    },

    count: async () => await countUsers(db),

    // The guards' private fast path (see profile-lookup.ts): synchronous on a SQLite database opened here.
    [PROFILE_LOOKUP] (username: string): MaybePromise<UserProfile | undefined> {
      const row = profileByUsername([username])
      return isPromise(row) ? row.then(toProfile) : toProfile(row)
    }
  }
  return store
}

export type KyselyUserStore = ReturnType<typeof createKyselyUserStore>

/** How many accounts the `users` table holds. */
export async function countUsers (db: Kysely<AuthDatabase>): Promise<number> {
  const { count } = await db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow()
  return Number(count)
}
