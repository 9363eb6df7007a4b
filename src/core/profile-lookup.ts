import type { MaybePromise } from './db/database.js'
import type { User } from './schemas/user.js'
import { toPublicUser, type UserStore } from './user-store.js'

/** What an authenticated request needs of its user. */
export interface UserProfile {
  user: User
  tokenVersion: number
}

/**
 * A store's optional, private lookup for the guards: the public profile only, answered at once
 * where the engine allows. Keyed by a symbol that is not exported from the package, so it never
 * becomes public API; any other store is read through `findByUsername`.
 */
export const PROFILE_LOOKUP = Symbol('fastify-token-auth.profileLookup')

type ProfileLookup = (username: string) => MaybePromise<UserProfile | undefined>

/** The lookup the guards call for a store. */
export function profileLookupOf (store: UserStore): ProfileLookup {
  const fast = (store as UserStore & { [PROFILE_LOOKUP]?: ProfileLookup })[PROFILE_LOOKUP]
  if (fast !== undefined) return fast.bind(store)
  return async (username) => {
    const record = await store.findByUsername(username)
    return record === undefined ? undefined : { user: toPublicUser(record), tokenVersion: record.tokenVersion }
  }
}
