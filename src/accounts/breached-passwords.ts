import { createHash } from 'node:crypto'
import { errors } from '../errors.js'

/** A k-anonymity range API of breached passwords (the Pwned Passwords API, or a mirror of it). */
export interface BreachedPasswordsOptions {
  /** The range endpoint: `<url>/<first five hex digits of the SHA-1>` lists the suffixes, `SUFFIX:COUNT` a line. */
  url: string
  /** When the API cannot be reached: true refuses the password with 503, false (the default) accepts it with a warning. */
  failClosed?: boolean
  /** The longest wait for an answer, in ms. Default 3000. */
  timeoutMs?: number
}

/** Where the check says that the API is unreachable: a pino or Fastify logger will do. */
export interface BreachLog {
  warn: (fields: object, message: string) => void
}

/**
 * Whether a password is in the breach corpus of a range API: only the first five hex digits of
 * its SHA-1 leave the process, with `Add-Padding: true` so the size of the answer tells nothing
 * either (padding lines count 0). An API that fails is one warning per outage, and the password
 * is accepted, or with `failClosed` refused with 503.
 */
export function createBreachedPasswordCheck (options: BreachedPasswordsOptions, log: BreachLog): (password: string) => Promise<boolean> {
  const base = options.url.replace(/\/+$/, '')
  const timeoutMs = options.timeoutMs ?? 3000
  let failing = false
  return async (password) => {
    const digest = createHash('sha1').update(password, 'utf8').digest('hex').toUpperCase()
    const [prefix, suffix] = [digest.slice(0, 5), digest.slice(5)]
    let body: string
    try {
      const res = await fetch(`${base}/${prefix}`, { headers: { 'add-padding': 'true' }, signal: AbortSignal.timeout(timeoutMs) })
      if (!res.ok) throw new Error(`HTTP ${res.status}`)
      body = await res.text()
    } catch (error) {
      if (!failing) log.warn({ err: error instanceof Error ? error.message : String(error) }, `fastify-token-auth: the breached-passwords API (${base}) did not answer: new passwords are ${options.failClosed === true ? 'refused with 503' : 'accepted without that check'} until it does`)
      failing = true
      if (options.failClosed === true) throw errors.UNAVAILABLE.create()
      return false
    }
    failing = false
    return body.split('\n').some((line) => {
      const [candidate, count] = line.trim().split(':')
      return candidate === suffix && Number(count) > 0
    })
  }
}
