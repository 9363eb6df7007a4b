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

/** Scopes only an admin may be granted. */
const ADMIN_ONLY = new Set(['admin'])

/** RFC 6749 §3.3 scope-token: printable ASCII but space, `"` and `\`. */
export const SCOPE_NAME_PATTERN = '^[\\x21\\x23-\\x5B\\x5D-\\x7E]{1,64}$'
const SCOPE_NAME = new RegExp(SCOPE_NAME_PATTERN)

/** The longest `scope` parameter read; a longer one is a malformed request. */
export const MAX_SCOPE_PARAMETER_LENGTH = 1024

export type ScopeRequest =
  | { kind: 'default' }
  | { kind: 'names', names: string[] }
  | { kind: 'malformed', problem: string }
  | { kind: 'unknown', names: string[] }

export interface ScopeRules {
  /** Every scope with its description, in order: what the docs list. */
  readonly all: ReadonlyMap<string, string>
  /** Whether `name` is a scope of this instance. */
  has (name: string): boolean
  /** A `scope` parameter read (absent or empty: the default), its names checked. */
  parse (raw: string | undefined): ScopeRequest
  /** What a user is granted for a request: the names asked for that the user may have (the default: all of them but admin's). */
  grant (request: { kind: 'default' } | { kind: 'names', names: string[] }, isAdmin: boolean): string[]
  /** Names as the `scope` string of a response or a token: each once, in the order of `all`. */
  format (names: Iterable<string>): string
}

/** The rules for the built-in scopes and the host's (name → description), checked by the options. */
export function createScopeRules (hostScopes: Record<string, string> = {}): ScopeRules {
  // `me`, the host's, then `admin`: the order of every scope string and of the Authorize dialog.
  const all = new Map<string, string>([['me', BUILT_IN_SCOPES.me], ...Object.entries(hostScopes), ['admin', BUILT_IN_SCOPES.admin]])
  const order = new Map([...all.keys()].map((name, index) => [name, index]))
  const format = (names: Iterable<string>) => [...new Set(names)].sort((a, b) => (order.get(a) ?? 0) - (order.get(b) ?? 0)).join(' ')
  return {
    all,
    has: (name) => all.has(name),
    parse (raw) {
      if (raw === undefined) return { kind: 'default' }
      if (raw.length > MAX_SCOPE_PARAMETER_LENGTH) return { kind: 'malformed', problem: `scope is longer than ${MAX_SCOPE_PARAMETER_LENGTH} characters` }
      // RFC 6749 §3.3: names separated by single spaces; anything else in it is malformed.
      if (/[^\x20-\x7E]/.test(raw)) return { kind: 'malformed', problem: 'scope holds a character that is not printable ASCII' }
      const names = raw.split(' ').filter((name) => name !== '')
      if (names.length === 0) return { kind: 'default' }
      const malformed = names.find((name) => !SCOPE_NAME.test(name))
      if (malformed !== undefined) return { kind: 'malformed', problem: 'a scope name holds a " or a \\, or is longer than 64 characters' }
      const unknown = names.filter((name) => !all.has(name))
      if (unknown.length > 0) return { kind: 'unknown', names: [...new Set(unknown)] }
      return { kind: 'names', names: [...new Set(names)] }
    },
    grant (request, isAdmin) {
      const allowed = (name: string) => isAdmin || !ADMIN_ONLY.has(name)
      const wanted = request.kind === 'default' ? [...all.keys()].filter((name) => !ADMIN_ONLY.has(name)) : request.names
      return format(wanted.filter(allowed)).split(' ').filter((name) => name !== '')
    },
    format
  }
}
