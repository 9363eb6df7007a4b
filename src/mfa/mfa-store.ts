import { createHash, randomBytes } from 'node:crypto'
import { sql, type Kysely, type Selectable } from 'kysely'
import { inWriteTransaction } from '../db/transaction.js'
import type { AuthDatabase, MfaChallengesTable, MfaFactorsTable, MfaRecoveryCodesTable } from '../db/types.js'
import { errors } from '../errors.js'
import { seal, unseal } from '../tokens/seal.js'

interface MfaDatabase {
  mfa_factors: MfaFactorsTable
  mfa_recovery_codes: MfaRecoveryCodesTable
  mfa_challenges: MfaChallengesTable
}

/** A user's TOTP factor, its secret opened. */
export interface MfaFactor {
  username: string
  secret: string
  /** False while the enrolment waits for its first code. */
  enabled: boolean
  /** The last time step a code was accepted for. */
  lastStep: number | undefined
  /** Wrong codes since `failuresSince` (epoch ms). */
  failures: number
  failuresSince: number | undefined
}

/** A pending second step of a login, as its password step left it. */
export interface MfaChallenge {
  username: string
  /** SHA-256 of the password hash the login was checked against. */
  credential: string
  scope: string
  clientId: string | null
  userAgent: string | null
  failures: number
}

/** An `mfa_token`: 256 random bits, base64url, like the account tokens. */
export const MFA_TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/

const hashOf = (token: string) => createHash('sha256').update(token).digest('base64url')
const SECRET_SEAL = (username: string) => ({ info: 'fastify-token-auth totp secret seal v1', aad: username })
const iso = (ms: number) => new Date(ms).toISOString()
const affected = (result: { numUpdatedRows?: bigint, numDeletedRows?: bigint }) => (result.numUpdatedRows ?? result.numDeletedRows ?? 0n) > 0n

/** The fingerprint of a password hash a challenge keeps: a new password, or none, voids the challenge. */
export const credentialOf = (hashedPassword: string): string => createHash('sha256').update(hashedPassword).digest('base64url')

/**
 * The second factors of the users, their recovery codes and the pending second steps of
 * logins, in the plugin's database (shared by every instance on it). TOTP secrets are sealed
 * under `secret`; codes and `mfa_token`s are kept as SHA-256 hashes only.
 */
export function createMfaStore (db: Kysely<MfaDatabase>, secret: string) {
  function toFactor (row: Selectable<MfaFactorsTable>): MfaFactor {
    const opened = unseal(row.totp_secret, secret, SECRET_SEAL(row.username))
    // A secret sealed under another key is no factor this instance can check: it fails closed.
    if (opened === undefined) throw errors.TOTP_SECRET_SEALED.create(row.username)
    return {
      username: row.username,
      secret: opened,
      enabled: row.enabled_at !== null,
      lastStep: row.last_step === null ? undefined : Number(row.last_step),
      failures: row.failures,
      failuresSince: row.failures_since === null ? undefined : Date.parse(row.failures_since)
    }
  }

  return {
    /** The user's factor, on or pending; undefined for none. */
    async factorOf (username: string): Promise<MfaFactor | undefined> {
      const row = await db.selectFrom('mfa_factors').selectAll().where('username', '=', username).executeTakeFirst()
      return row === undefined ? undefined : toFactor(row)
    },

    /** Whether the user's TOTP is on: the one query a password grant adds. */
    async isOn (username: string): Promise<boolean> {
      const row = await db.selectFrom('mfa_factors').select('enabled_at').where('username', '=', username).executeTakeFirst()
      return row?.enabled_at != null
    },

    /** A pending factor with `totpSecret`, replacing a pending one; false when the user's is on already. */
    async begin (username: string, totpSecret: string): Promise<boolean> {
      return await inWriteTransaction(db, async (trx) => {
        const row = await trx.selectFrom('mfa_factors').select('enabled_at').where('username', '=', username).executeTakeFirst()
        if (row?.enabled_at != null) return false
        await trx.deleteFrom('mfa_factors').where('username', '=', username).execute()
        await trx.insertInto('mfa_factors').values({
          username,
          totp_secret: seal(totpSecret, secret, SECRET_SEAL(username)),
          created_at: iso(Date.now()),
          enabled_at: null,
          last_step: null,
          failures_since: null
        }).execute()
        return true
      })
    },

    /**
     * Turns the pending factor on with its first code's step, and stores the recovery codes in
     * place of any; false when none is pending or that step was used already.
     */
    async activate (username: string, step: number, codeHashes: readonly string[]): Promise<boolean> {
      return await inWriteTransaction(db, async (trx) => {
        const result = await trx.updateTable('mfa_factors').set({ enabled_at: iso(Date.now()), last_step: step })
          .where('username', '=', username).where('enabled_at', 'is', null)
          .where((eb) => eb.or([eb('last_step', 'is', null), eb('last_step', '<', step)]))
          .executeTakeFirst()
        if (!affected(result)) return false
        await replaceCodes(trx, username, codeHashes)
        return true
      })
    },

    /** Records `step` as used, if it is later than the last one used: one statement, so of two concurrent uses one wins. */
    async claimStep (username: string, step: number): Promise<boolean> {
      const result = await db.updateTable('mfa_factors').set({ last_step: step })
        .where('username', '=', username).where('enabled_at', 'is not', null)
        .where((eb) => eb.or([eb('last_step', 'is', null), eb('last_step', '<', step)]))
        .executeTakeFirst()
      return affected(result)
    },

    /** Counts a wrong code against the user's limit: a window of `windowMs` starts at the first. */
    async failed (username: string, windowMs: number): Promise<void> {
      const now = Date.now()
      const fresh = sql<boolean>`failures_since is null or failures_since <= ${iso(now - windowMs)}`
      await db.updateTable('mfa_factors').set({
        failures: sql`case when ${fresh} then 1 else failures + 1 end`,
        failures_since: sql`case when ${fresh} then ${iso(now)} else failures_since end`
      }).where('username', '=', username).execute()
    },

    /** Replaces the user's recovery codes; false when the user's factor is not on. */
    async replaceCodes (username: string, codeHashes: readonly string[]): Promise<boolean> {
      return await inWriteTransaction(db, async (trx) => {
        const row = await trx.selectFrom('mfa_factors').select('enabled_at').where('username', '=', username).executeTakeFirst()
        if (row?.enabled_at == null) return false
        await replaceCodes(trx, username, codeHashes)
        return true
      })
    },

    /** Spends an unused recovery code: 'spent', 'used' (spent before) or 'unknown'. */
    async spendCode (username: string, codeHash: string): Promise<'spent' | 'used' | 'unknown'> {
      const result = await db.updateTable('mfa_recovery_codes').set({ used_at: iso(Date.now()) })
        .where('code_hash', '=', codeHash).where('username', '=', username).where('used_at', 'is', null)
        .executeTakeFirst()
      if (affected(result)) return 'spent'
      const used = await db.selectFrom('mfa_recovery_codes').select('code_hash').where('code_hash', '=', codeHash).where('username', '=', username).executeTakeFirst()
      return used === undefined ? 'unknown' : 'used'
    },

    /** How many of the user's recovery codes are unused. */
    async codesLeft (username: string): Promise<number> {
      const row = await db.selectFrom('mfa_recovery_codes').select((eb) => eb.fn.countAll<number | string | bigint>().as('count'))
        .where('username', '=', username).where('used_at', 'is', null).executeTakeFirst()
      return Number(row?.count ?? 0)
    },

    /** Removes the user's factor, recovery codes and pending second steps; false when there was no factor. */
    async remove (username: string): Promise<boolean> {
      return await inWriteTransaction(db, async (trx) => {
        await trx.deleteFrom('mfa_challenges').where('username', '=', username).execute()
        await trx.deleteFrom('mfa_recovery_codes').where('username', '=', username).execute()
        return affected(await trx.deleteFrom('mfa_factors').where('username', '=', username).executeTakeFirst())
      })
    },

    /** A new `mfa_token` for the second step of a login, valid for `lifetimeMs`. Expired ones are cleared on the way. */
    async challenge (challenge: Omit<MfaChallenge, 'failures'>, lifetimeMs: number): Promise<string> {
      const token = randomBytes(32).toString('base64url')
      const now = Date.now()
      await db.deleteFrom('mfa_challenges').where('expires_at', '<=', iso(now)).execute()
      await db.insertInto('mfa_challenges').values({
        token_hash: hashOf(token),
        username: challenge.username,
        credential: challenge.credential,
        scope: challenge.scope,
        client_id: challenge.clientId,
        user_agent: challenge.userAgent,
        created_at: iso(now),
        expires_at: iso(now + lifetimeMs)
      }).execute()
      return token
    },

    /** The live challenge of an `mfa_token`, without spending it; undefined for an unknown, spent or expired one. */
    async peekChallenge (token: string): Promise<MfaChallenge | undefined> {
      const row = await db.selectFrom('mfa_challenges').selectAll()
        .where('token_hash', '=', hashOf(token)).where('expires_at', '>', iso(Date.now())).executeTakeFirst()
      return row === undefined
        ? undefined
        : { username: row.username, credential: row.credential, scope: row.scope, clientId: row.client_id, userAgent: row.user_agent, failures: row.failures }
    },

    /** Counts a wrong code against an `mfa_token`: at `max`, it is gone. */
    async challengeFailed (token: string, max: number): Promise<void> {
      const hash = hashOf(token)
      await db.updateTable('mfa_challenges').set({ failures: sql`failures + 1` }).where('token_hash', '=', hash).execute()
      await db.deleteFrom('mfa_challenges').where('token_hash', '=', hash).where('failures', '>=', max).execute()
    },

    /** Spends an `mfa_token`: one statement, so of two concurrent second steps one gets it. */
    async spendChallenge (token: string): Promise<boolean> {
      return affected(await db.deleteFrom('mfa_challenges').where('token_hash', '=', hashOf(token)).where('expires_at', '>', iso(Date.now())).executeTakeFirst())
    },

    /** Ends the user's pending second steps (the account changed under them). */
    async endChallenges (username: string): Promise<void> {
      await db.deleteFrom('mfa_challenges').where('username', '=', username).execute()
    }
  }

  async function replaceCodes (trx: Kysely<MfaDatabase>, username: string, codeHashes: readonly string[]): Promise<void> {
    await trx.deleteFrom('mfa_recovery_codes').where('username', '=', username).execute()
    const now = iso(Date.now())
    await trx.insertInto('mfa_recovery_codes').values(codeHashes.map((hash) => ({ code_hash: hash, username, created_at: now, used_at: null }))).execute()
  }
}

export type MfaStore = ReturnType<typeof createMfaStore>

/**
 * The TOTP secrets sealed again under `newSecret` (after the plugin's secret changed), within a
 * transaction of the caller's; how many. TOTP_SECRET_SEALED (thrown, nothing written) when
 * `oldSecret` does not open one of them.
 */
export async function resealTotpSecretsIn (trx: Kysely<AuthDatabase>, oldSecret: string, newSecret: string): Promise<number> {
  const rows = await trx.selectFrom('mfa_factors').select(['username', 'totp_secret']).execute()
  const opened = rows.map((row) => {
    const plain = unseal(row.totp_secret, oldSecret, SECRET_SEAL(row.username))
    if (plain === undefined) throw errors.TOTP_SECRET_SEALED.create(row.username)
    return { username: row.username, plain }
  })
  for (const { username, plain } of opened) {
    await trx.updateTable('mfa_factors').set({ totp_secret: seal(plain, newSecret, SECRET_SEAL(username)) }).where('username', '=', username).execute()
  }
  return rows.length
}
