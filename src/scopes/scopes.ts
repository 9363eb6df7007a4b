import { errors } from '../errors.js'

/**
 * OAuth2 scopes (RFC 6749 §3.3): the built-in ones and a host's, what a user may be granted,
 * and how a requested `scope` parameter becomes a grant.
 */

/** The scopes every instance has, with the descriptions the docs show. */
export const BUILT_IN_SCOPES = {
  me: 'Read and change your own account and sessions',
  admin: 'Manage every account and session (admins only)'
} as const satisfies Record<string, string>

/** What the plugin's own-account and session routes need. */
export const OWN_ACCOUNT_SCOPES: readonly string[] = Object.freeze(['me'])

/** The scope only an admin may be granted; revoking admin rights ends the sessions holding it. */
export const ADMIN_SCOPE = 'admin'

/** RFC 6749 §3.3 scope-token: printable ASCII but space, `"` and `\`. */
export const SCOPE_NAME_PATTERN = '^[\\x21\\x23-\\x5B\\x5D-\\x7E]{1,64}$'
const SCOPE_NAME = new RegExp(SCOPE_NAME_PATTERN)

/** The longest `scope` parameter read; a longer one is a malformed request. */
export const MAX_SCOPE_PARAMETER_LENGTH = 1024

/** A `scope` parameter read: absent or empty (the default grant), or the names it asks for. */
export type ScopeRequest = { kind: 'default' } | { kind: 'names', names: string[] }

export interface ScopeRules {
  /** Every scope with its description, in order: what the docs list. */
  readonly all: ReadonlyMap<string, string>
  /** Whether `name` is a scope of this instance. */
  has (name: string): boolean
  /** A `scope` parameter read; throws the table's SCOPE_MALFORMED or SCOPE_UNKNOWN for one it refuses. */
  parse (raw: string | undefined): ScopeRequest
  /** The `scope` a user is granted for a request: the names asked for that the user may have (the default: all but `admin`); empty for none. */
  grant (request: ScopeRequest, isAdmin: boolean): string
  /** Names as the `scope` string of a response or a token: each once, in the order of `all`. */
  format (names: Iterable<string>): string
}

/** The rules for the built-in scopes and the host's (name → description), checked by the options. */
export function createScopeRules (hostScopes: Record<string, string> = {}): ScopeRules {
  // `me`, the host's, then `admin`: the order of every scope string and of the Authorize dialog.
  const all = new Map<string, string>([['me', BUILT_IN_SCOPES.me], ...Object.entries(hostScopes), [ADMIN_SCOPE, BUILT_IN_SCOPES.admin]])
  const order = new Map([...all.keys()].map((name, index) => [name, index]))
  const format = (names: Iterable<string>) => [...new Set(names)].sort((a, b) => (order.get(a) ?? 0) - (order.get(b) ?? 0)).join(' ')
  return {
    all,
    has: (name) => all.has(name),
    parse (raw) {
      if (raw === undefined) return { kind: 'default' }
      if (raw.length > MAX_SCOPE_PARAMETER_LENGTH) throw errors.SCOPE_MALFORMED.create(`scope is longer than ${MAX_SCOPE_PARAMETER_LENGTH} characters`)
      // RFC 6749 §3.3: names separated by single spaces; anything else in it is malformed.
      if (/[^\x20-\x7E]/.test(raw)) throw errors.SCOPE_MALFORMED.create('scope holds a character that is not printable ASCII')
      const names = raw.split(' ').filter((name) => name !== '')
      if (names.length === 0) return { kind: 'default' }
      if (!names.every((name) => SCOPE_NAME.test(name))) throw errors.SCOPE_MALFORMED.create('a scope name holds a " or a \\, or is longer than 64 characters')
      const unknown = names.filter((name) => !all.has(name))
      if (unknown.length > 0) throw errors.SCOPE_UNKNOWN.create([...new Set(unknown)])
      return { kind: 'names', names: [...new Set(names)] }
    },
    grant (request, isAdmin) {
      const wanted = request.kind === 'default' ? [...all.keys()].filter((name) => name !== ADMIN_SCOPE) : request.names
      return format(wanted.filter((name) => isAdmin || name !== ADMIN_SCOPE))
    },
    format
  }
}
