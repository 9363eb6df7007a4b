import { sql, type Kysely } from 'kysely'
import { engineOf } from '../db/dialect.js'
import { inWriteTransaction } from '../db/transaction.js'
import type { ThrottleDatabase } from '../db/types.js'
import { backoffDelay, pastLimitSpacing, type LoginAttemptStore, type LoginKeys, type LoginThrottlePolicy } from './login-throttle.js'

/** A fixed window's count after a hit, and when the window ends (epoch ms). */
export interface WindowHits {
  hits: number
  resetsAt: number
}

/** The throttling counters in the plugin's database: shared by every process on it. */
export interface DatabaseThrottleStore extends LoginAttemptStore {
  /** Counts a hit on `key` in a window of `windowMs` that starts with the first hit. One atomic statement. */
  hit (key: string, windowMs: number, now: number): Promise<WindowHits>
  /** Deletes the counters whose windows and memories have passed. */
  sweep (now: number): Promise<void>
}

export function createDatabaseThrottleStore (db: Kysely<ThrottleDatabase>): DatabaseThrottleStore {
  const postgres = engineOf(db) === 'postgres'

  async function lockedRows (trx: Kysely<ThrottleDatabase>, keys: LoginKeys, now: number) {
    if (postgres) {
      // Rows to lock: absent ones are created empty first (in key order, as every caller does).
      await trx.insertInto('auth_login_failures').values({ key: keys.pair, failures: 0, blocked_until: 0, expires_at: now })
        .onConflict((oc) => oc.column('key').doNothing()).execute()
      await trx.insertInto('auth_rate_limits').values({ key: keys.user, hits: 0, resets_at: now })
        .onConflict((oc) => oc.column('key').doNothing()).execute()
    }
    let pairQuery = trx.selectFrom('auth_login_failures').select(['failures', 'blocked_until', 'expires_at']).where('key', '=', keys.pair)
    let userQuery = trx.selectFrom('auth_rate_limits').select(['hits', 'resets_at']).where('key', '=', keys.user)
    if (postgres) {
      pairQuery = pairQuery.forUpdate()
      userQuery = userQuery.forUpdate()
    }
    const pair = await pairQuery.executeTakeFirst()
    const user = await userQuery.executeTakeFirst()
    const live = pair !== undefined && Number(pair.expires_at) > now
    const userLive = user !== undefined && Number(user.resets_at) > now
    return {
      failures: live ? pair.failures : 0,
      blockedUntil: live ? Number(pair.blocked_until) : 0,
      userHits: userLive ? user.hits : 0,
      userResetsAt: userLive ? Number(user.resets_at) : 0
    }
  }

  /** Whether the username logged in from the attempt's address within the policy's memory of it. */
  async function knownAddress (trx: Kysely<ThrottleDatabase>, keys: LoginKeys, now: number): Promise<boolean> {
    const row = await trx.selectFrom('auth_login_failures').select('expires_at').where('key', '=', keys.known).executeTakeFirst()
    return row !== undefined && Number(row.expires_at) > now
  }

  /**
   * Takes the username's next paced slot past its account-wide limit: 0, or how long until the
   * slot is free. The username's row is locked already, so paced attempts take turns.
   */
  async function takeSlot (trx: Kysely<ThrottleDatabase>, keys: LoginKeys, policy: LoginThrottlePolicy, now: number): Promise<number> {
    const row = await trx.selectFrom('auth_rate_limits').select('resets_at').where('key', '=', keys.slot).executeTakeFirst()
    const freeAt = row === undefined ? 0 : Number(row.resets_at)
    if (freeAt > now) return freeAt - now
    const next = { hits: 1, resets_at: now + pastLimitSpacing(policy) }
    await trx.insertInto('auth_rate_limits').values({ key: keys.slot, ...next })
      .onConflict((oc) => oc.column('key').doUpdateSet(next)).execute()
    return 0
  }

  return {
    async hit (key, windowMs, now) {
      const row = await db.insertInto('auth_rate_limits').values({ key, hits: 1, resets_at: now + windowMs })
        .onConflict((oc) => oc.column('key').doUpdateSet({
          hits: sql`case when auth_rate_limits.resets_at <= ${now} then 1 else auth_rate_limits.hits + 1 end`,
          resets_at: sql`case when auth_rate_limits.resets_at <= ${now} then excluded.resets_at else auth_rate_limits.resets_at end`
        }))
        .returning(['hits', 'resets_at'])
        .executeTakeFirstOrThrow()
      return { hits: row.hits, resetsAt: Number(row.resets_at) }
    },

    async admit (keys, policy: LoginThrottlePolicy, now) {
      return await inWriteTransaction(db, async (trx) => {
        const state = await lockedRows(trx, keys, now)
        if (state.blockedUntil > now) return state.blockedUntil - now
        if (state.userHits >= policy.userLimit && !await knownAddress(trx, keys, now)) {
          const wait = await takeSlot(trx, keys, policy, now)
          if (wait > 0) return wait
        }
        const failures = state.failures + 1
        const delay = backoffDelay(failures, policy)
        const pair = { failures, blocked_until: delay > 0 ? now + delay : 0, expires_at: now + policy.memoryMs }
        await trx.insertInto('auth_login_failures').values({ key: keys.pair, ...pair })
          .onConflict((oc) => oc.column('key').doUpdateSet(pair)).execute()
        const user = state.userHits === 0
          ? { hits: 1, resets_at: now + policy.userWindowMs }
          : { hits: state.userHits + 1, resets_at: state.userResetsAt }
        await trx.insertInto('auth_rate_limits').values({ key: keys.user, ...user })
          .onConflict((oc) => oc.column('key').doUpdateSet(user)).execute()
        return 0
      })
    },

    async succeeded (keys, policy, now) {
      await inWriteTransaction(db, async (trx) => {
        await trx.deleteFrom('auth_login_failures').where('key', '=', keys.pair).execute()
        await trx.updateTable('auth_rate_limits').set({ hits: sql`hits - 1` }).where('key', '=', keys.user).where('hits', '>', 0).execute()
        const known = { failures: 0, blocked_until: 0, expires_at: now + policy.knownAddressMs }
        await trx.insertInto('auth_login_failures').values({ key: keys.known, ...known })
          .onConflict((oc) => oc.column('key').doUpdateSet(known)).execute()
      })
    },

    async sweep (now) {
      await db.deleteFrom('auth_rate_limits').where('resets_at', '<=', now).execute()
      await db.deleteFrom('auth_login_failures').where('expires_at', '<=', now).execute()
    }
  }
}
