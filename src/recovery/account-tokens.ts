import { createHash, randomBytes } from 'node:crypto'
import type { Kysely } from 'kysely'
import { inWriteTransaction } from '../db/transaction.js'
import type { AccountTokensTable } from '../db/types.js'

/** What a one-time token is for. */
export type TokenPurpose = 'password_reset' | 'email_verification'

/** A one-time token: 256 random bits, base64url. The routes' schema checks this shape. */
export const ACCOUNT_TOKEN_PATTERN = '^[A-Za-z0-9_-]{43}$'

const newToken = () => randomBytes(32).toString('base64url')
const tokenHash = (token: string) => createHash('sha256').update(token).digest('base64url')

/** Whom a token was issued to, and the address a verification proves. */
export interface TokenHolder {
  username: string
  email: string | null
}

interface TokenDatabase {
  account_tokens: AccountTokensTable
}

/**
 * The one-time tokens of account recovery, stored as SHA-256 hashes: one live token per user and
 * purpose (issuing replaces the last), each spent at most once. A repository over the plugin's
 * database, shared by every instance on it.
 */
export function createAccountTokenStore (db: Kysely<TokenDatabase>) {
  return {
    /** A new token for `username`, replacing any it held for `purpose`; valid for `lifetimeMs`. */
    async issue (purpose: TokenPurpose, holder: TokenHolder, lifetimeMs: number): Promise<string> {
      const token = newToken()
      const now = new Date()
      await inWriteTransaction(db, async (trx) => {
        await trx.deleteFrom('account_tokens').where('username', '=', holder.username).where('purpose', '=', purpose).execute()
        await trx.insertInto('account_tokens').values({
          token_hash: tokenHash(token),
          purpose,
          username: holder.username,
          email: holder.email,
          created_at: now.toISOString(),
          expires_at: new Date(now.getTime() + lifetimeMs).toISOString()
        }).execute()
      })
      return token
    },

    /** Whom a live token belongs to, without spending it; undefined for an unknown, spent or expired one. */
    async peek (purpose: TokenPurpose, token: string): Promise<TokenHolder | undefined> {
      const row = await db.selectFrom('account_tokens').select(['username', 'email'])
        .where('token_hash', '=', tokenHash(token)).where('purpose', '=', purpose)
        .where('expires_at', '>', new Date().toISOString())
        .executeTakeFirst()
      return row
    },

    /**
     * Spends a live token: one statement deletes it and answers whom it belonged to, so of two
     * concurrent spends exactly one gets an answer. Undefined for an unknown, spent or expired one.
     */
    async spend (purpose: TokenPurpose, token: string): Promise<TokenHolder | undefined> {
      return await db.deleteFrom('account_tokens')
        .where('token_hash', '=', tokenHash(token)).where('purpose', '=', purpose)
        .where('expires_at', '>', new Date().toISOString())
        .returning(['username', 'email'])
        .executeTakeFirst()
    },

    /** Removes the user's tokens (for `purpose` only, when given): the account changed under them. */
    async revoke (username: string, purpose?: TokenPurpose): Promise<void> {
      let query = db.deleteFrom('account_tokens').where('username', '=', username)
      if (purpose !== undefined) query = query.where('purpose', '=', purpose)
      await query.execute()
    }
  }
}

export type AccountTokenStore = ReturnType<typeof createAccountTokenStore>
