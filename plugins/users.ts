import fp from 'fastify-plugin'
import type { Kysely, Selectable } from 'kysely'
import { isPromise, preparedFirstRow, type MaybePromise } from '../src/db/database.js'
import { isUniqueViolation } from '../src/db/errors.js'
import type { AuthDatabase, UsersTable } from '../src/db/types.js'
import type { User } from '../src/schemas/user.js'

declare module 'fastify' {
  interface FastifyInstance {
    users: UsersRepository
  }
}

/** A stored account. `hashedPassword` never leaves the server: see toPublicUser. */
export interface UserRecord {
  id: number
  username: string
  email: string | null
  fullName: string | null
  disabled: boolean
  hashedPassword: string
  tokenVersion: number
}

export interface NewUser {
  username: string
  hashedPassword: string
  email?: string | null
  fullName?: string | null
  disabled?: boolean
}

export class UsernameTakenError extends Error {
  constructor (username: string) {
    super(`Username ${username} is already taken`)
    this.name = 'UsernameTakenError'
  }
}

export type UsersRepository = ReturnType<typeof createUsersRepository>

/** What an authenticated request needs of its user. */
export interface UserProfile {
  user: User
  /** Bumped by every password change; a token carrying another version is refused. */
  tokenVersion: number
}

type ProfileRow = Pick<Selectable<UsersTable>, 'username' | 'email' | 'full_name' | 'disabled' | 'token_version'>

export function toPublicUser (user: UserRecord): User {
  return { username: user.username, email: user.email, full_name: user.fullName, disabled: user.disabled }
}

function toRecord (row: Selectable<UsersTable>): UserRecord {
  return {
    id: row.id,
    username: row.username,
    email: row.email,
    fullName: row.full_name,
    disabled: row.disabled !== 0,
    hashedPassword: row.hashed_password,
    tokenVersion: row.token_version
  }
}

export function createUsersRepository (db: Kysely<AuthDatabase>) {
  const byUsername = preparedFirstRow(db, db.selectFrom('users').selectAll().where('username', '=', '').compile())
  // The lookup behind every authenticated request: built and compiled once (building Kysely's
  // query tree per request cost more than running it), prepared once where the engine allows,
  // and only the public columns, so no hash is read and no record is rebuilt per request.
  const profileByUsername = preparedFirstRow(db, db.selectFrom('users')
    .select(['username', 'email', 'full_name', 'disabled', 'token_version']).where('username', '=', '').compile())
  const toProfile = (row: ProfileRow | undefined): UserProfile | undefined => row === undefined
    ? undefined
    : { user: { username: row.username, email: row.email, full_name: row.full_name, disabled: row.disabled !== 0 }, tokenVersion: row.token_version }

  return {
    /** Exact, case-sensitive match: `TIM` is not `tim`. */
    async findByUsername (username: string): Promise<UserRecord | undefined> {
      const row = await byUsername([username])
      return row === undefined ? undefined : toRecord(row)
    },

    /**
     * The public profile (what `request.user` carries) and the current token version, by exact
     * username. On a SQLite database the plugin opened, the answer is immediate rather than a
     * promise (see preparedFirstRow); `await` it either way.
     */
    findProfile (username: string): MaybePromise<UserProfile | undefined> {
      const row = profileByUsername([username])
      return isPromise(row) ? row.then(toProfile) : toProfile(row)
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

    async count (): Promise<number> {
      const { count } = await db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow()
      return Number(count)
    }
  }
}

export default fp(async function users (app) {
  app.decorate('users', createUsersRepository(app.db))
}, { name: 'token-auth/users', dependencies: ['token-auth/database'], fastify: '5.x' })
