import type { ThrottleRedisClient } from '../types.js'
import { pastLimitSpacing, type LoginAttemptStore, type LoginThrottlePolicy } from './login-throttle.js'

// KEYS: the username-at-address hash, the username's window counter, the address's known
// marker, the username's paced slot. ARGV: now, backoffAfter, baseDelayMs, maxDelayMs,
// userLimit, userWindowMs, memoryMs, the pace past the limit. The same rules as the database
// store, in one atomic script.
const ADMIT = `
local now = tonumber(ARGV[1])
local blocked = tonumber(redis.call('HGET', KEYS[1], 'blocked_until') or '0')
if blocked > now then return blocked - now end
local hits = tonumber(redis.call('GET', KEYS[2]) or '0')
if hits >= tonumber(ARGV[5]) and redis.call('EXISTS', KEYS[3]) == 0 then
  local slot = redis.call('PTTL', KEYS[4])
  if slot > 0 then return slot end
  redis.call('SET', KEYS[4], '1', 'PX', ARGV[8])
end
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
local after = tonumber(ARGV[2])
if failures >= after then
  local delay = math.min(tonumber(ARGV[3]) * 2 ^ (failures - after), tonumber(ARGV[4]))
  redis.call('HSET', KEYS[1], 'blocked_until', now + delay)
end
redis.call('PEXPIRE', KEYS[1], ARGV[7])
if redis.call('INCR', KEYS[2]) == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[6]) end
return 0
`

// KEYS: as ADMIT's first three. ARGV: how long the address stays known.
const SUCCEEDED = `
redis.call('DEL', KEYS[1])
if tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then redis.call('DECR', KEYS[2]) end
redis.call('SET', KEYS[3], '1', 'PX', ARGV[1])
return 0
`

/** The login-attempt counters in Redis, under `prefix`: shared by every instance using it. */
export function createRedisLoginAttemptStore (redis: ThrottleRedisClient, prefix: string): LoginAttemptStore {
  return {
    async admit (keys, policy: LoginThrottlePolicy, now) {
      const wait = await redis.eval(ADMIT, 4, prefix + keys.pair, prefix + keys.user, prefix + keys.known, prefix + keys.slot, now,
        policy.backoffAfter, policy.baseDelayMs, policy.maxDelayMs, policy.userLimit, policy.userWindowMs, policy.memoryMs,
        pastLimitSpacing(policy))
      return Number(wait)
    },
    async succeeded (keys, policy) {
      await redis.eval(SUCCEEDED, 3, prefix + keys.pair, prefix + keys.user, prefix + keys.known, policy.knownAddressMs)
    }
  }
}
