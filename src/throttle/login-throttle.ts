import { createHash } from 'node:crypto'
import { isIPv6 } from 'node:net'
import { Address6 } from 'ip-address'

/** How failed logins slow further attempts down. Times in milliseconds. */
export interface LoginThrottlePolicy {
  /** Consecutive failures for one username from one address before each attempt must wait. */
  backoffAfter: number
  /** The first wait; each further failure doubles it. */
  baseDelayMs: number
  maxDelayMs: number
  /**
   * Failed attempts for one username from all addresses together within `userWindowMs`. Past
   * it, attempts from addresses the account has not logged in from are slowed to the limit's
   * average pace (one per userWindowMs / userLimit), not shut out.
   */
  userLimit: number
  userWindowMs: number
  /** A username and address's failures are forgotten this long after the last one. */
  memoryMs: number
  /** An address the account logged in from is exempt from the account-wide limit this long after that login. */
  knownAddressMs: number
}

/**
 * Where the counters of one attempt live: the username at one address, the username everywhere,
 * the marker of a recent success at that address, and the username's next paced slot.
 */
export interface LoginKeys {
  pair: string
  user: string
  known: string
  slot: string
}

/**
 * Shared login-attempt counters (the database, or Redis). An admitted attempt counts as a
 * failure until it is reported a success, so concurrent guesses cannot slip past the count.
 */
export interface LoginAttemptStore {
  /** Counts the attempt and answers 0, or answers how many milliseconds it must wait, counting nothing. */
  admit (keys: LoginKeys, policy: LoginThrottlePolicy, now: number): Promise<number>
  /**
   * The attempt succeeded: the username's failures at that address are forgotten, it no longer
   * counts for the username, and the address is known to the account for `knownAddressMs`.
   */
  succeeded (keys: LoginKeys, policy: LoginThrottlePolicy, now: number): Promise<void>
}

/** Attempts past the account-wide limit are let through one per this many milliseconds. */
export const pastLimitSpacing = (policy: LoginThrottlePolicy) => Math.ceil(policy.userWindowMs / policy.userLimit)

/** The wait after a username's `failures`-th consecutive failure at one address; 0 below the threshold. */
export function backoffDelay (failures: number, policy: LoginThrottlePolicy): number {
  if (failures < policy.backoffAfter) return 0
  return Math.min(policy.baseDelayMs * 2 ** (failures - policy.backoffAfter), policy.maxDelayMs)
}

/**
 * A client address as the limits count it: an IPv6 address by its /64 (one subscriber's whole
 * block, as @fastify/rate-limit does), an IPv4-mapped address as IPv4.
 */
export function clientKey (ip: string): string {
  if (!isIPv6(ip)) return ip.toLowerCase()
  const address = new Address6(ip)
  if (address.isMapped4()) return address.to4().correctForm()
  return new Address6(`${ip}/64`).startAddress().correctForm()
}

const digest = (value: string) => createHash('sha256').update(value).digest('base64url')

/**
 * The counters of a login attempt. Case-folded, as usernames are unique regardless of case (so
 * a host store that matches names loosely gives a guesser no fresh counters), and hashed: what
 * someone typed as a username (a password, often) is never stored.
 */
export function loginKeys (username: string, ip: string): LoginKeys {
  const user = username.toLowerCase()
  const pair = digest(`${user}\0${clientKey(ip)}`)
  const everywhere = digest(user)
  return { pair: `login:${pair}`, user: `login-user:${everywhere}`, known: `login-known:${pair}`, slot: `login-slot:${everywhere}` }
}
