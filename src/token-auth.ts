import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Kysely } from 'kysely'
import { createAccessTokens } from '../plugins/access-tokens.js'
import { createAudit } from '../plugins/audit.js'
import { AUTH_METRIC_NAMES, DEFAULT_METRICS_PREFIX, registerAuthMetrics } from '../plugins/auth-metrics.js'
import docs, { redocInstalled } from '../plugins/docs.js'
import errors from '../plugins/errors.js'
import { ADMITTED_USER, authenticate as exportedAuthenticate, createGuards, currentActiveUser as exportedCurrentActiveUser, registerGuards, scopesOf } from '../plugins/guards.js'
import type { Internals } from '../plugins/internals.js'
import { claimInHostDocument, markGuardedRoutes } from '../plugins/openapi-security.js'
import schemaCompilers from '../plugins/schema-compilers.js'
import { openStorage } from '../plugins/storage.js'
import { createThrottle, type LimitName } from '../plugins/throttle.js'
import accountRoutes from '../routes/account.js'
import adminRoutes from '../routes/admin.js'
import introspectRoutes from '../routes/introspect.js'
import metadataRoutes, { authorizationServerMetadata, METADATA_PATH } from '../routes/metadata.js'
import sessionRoutes from '../routes/sessions.js'
import tokenRoutes from '../routes/token.js'
import mfaRoutes from '../routes/mfa.js'
import recoveryRoutes from '../routes/recovery.js'
import userRoutes from '../routes/users.js'
import jwksRoutes from '../routes/jwks.js'
import { openKeyRing, type KeyRing, type Rotation } from './tokens/key-ring.js'
import type { PublicJwk, SigningAlgorithm } from './tokens/signing-keys.js'
import type { DatabaseOptions } from './db/database.js'
import { createBreachedPasswordCheck, type BreachedPasswordsOptions } from './accounts/breached-passwords.js'
import { createPasswordHasher, newPasswordRules, type NewPasswordRules } from './accounts/passwords.js'
import { optionsError, resolveOptions, type ResolvedOptions } from './options.js'
import { PasswordRuleError } from './accounts/passwords.js'
import { createAccounts, type AccountChange, type AdminActor, type AdminChanges, type AdminUser, type AuditActor, type NewAccount } from './accounts/accounts.js'
import { errors as errorTable } from './errors.js'
import type { AddressLimit, Guard, GuardDecorators, MetricsRegistry, ThrottleRedisClient } from './types.js'
import { addSchemas, authSchemas } from './schemas/index.js'
import type { Token } from './schemas/token.js'
import type { SessionRecord } from './sessions/session-store.js'
import type { ProfileChanges, UserPage, UserRecord, UserStore } from './accounts/user-store.js'
import { createScopeRules } from './scopes/scopes.js'
import { parseClientId } from './tokens/client-id.js'
import { createMailer, type MailOptions } from './mail/index.js'
import { createAccountTokenStore } from './recovery/account-tokens.js'
import { createAfterAnswer } from './recovery/after-answer.js'
import { createRecovery } from './recovery/recovery.js'
import { createMfa } from './mfa/mfa.js'
import { createMfaStore } from './mfa/mfa-store.js'

export interface TokenAuthDocsOptions {
  /** The plugin's own document: its title. */
  title?: string
  /** The plugin's own document: its version. Default the package's. */
  version?: string
  /** The plugin's own document: its opening paragraph (how to log in and the error statuses follow). */
  description?: string
  /** Also serve ReDoc at `<prefix>/redoc` (needs the optional `redoc` package). Default false. */
  redoc?: boolean
  /**
   * The name of the OAuth2 password-flow security scheme, in the host's document too. Give a
   * second instance in one app a name of its own. Default 'OAuth2PasswordBearer'.
   */
  securityScheme?: string
  /**
   * What the operationIds of the plugin's operations start with: 'staff' makes `token`
   * `staffToken` and `readCurrentUser` `staffReadCurrentUser`. A second instance in one host
   * document needs one of its own (operationIds are unique in a document). Default '', none.
   */
  operationIdPrefix?: string
}

export type { AddressLimit }

/** Throttling: limits per client address on the routes a script would hammer, and a backoff per username at the token endpoint. */
export interface TokenAuthThrottleOptions {
  /** `POST /token`, every grant. Default 60 per 60 s. false: unlimited. */
  token?: AddressLimit | false
  /** `POST /users/`. Default 20 per hour. */
  registration?: AddressLimit | false
  /** `POST /revoke`. Default 60 per 60 s. */
  revoke?: AddressLimit | false
  /** `POST /users/me/password`. Default 20 per hour. */
  passwordChange?: AddressLimit | false
  /** `GET /users/me/sessions`. Default 60 per 60 s. */
  sessions?: AddressLimit | false
  /** `POST /introspect`. Default 600 per 60 s. */
  introspect?: AddressLimit | false
  /** The account recovery routes together (`POST /password-reset`, its `/confirm`, `POST /email/verify`, `POST /users/me/email/verify-request`). Default 20 per hour. */
  recovery?: AddressLimit | false
  /** The second-factor routes under `/users/me/mfa` together. Default 30 per hour. */
  mfa?: AddressLimit | false
  /**
   * Wrong second-factor codes (TOTP or recovery) for one account in an hour, from all addresses
   * together, at the token endpoint's second step and the `/users/me/mfa` routes: past it, the
   * account's codes are not checked (429) until the hour from the first is over. Counted apart
   * from the password's backoff. Default 10; false: no limit.
   */
  otpFailuresPerHour?: number | false
  /**
   * After this many consecutive failed logins for a username from one address, each further
   * attempt from there waits 1 s, 2 s, 4 s … (answered 429, no password checked). Default 5;
   * false: no backoff.
   */
  loginBackoffAfter?: number | false
  /** The longest of those waits. Default 900 (15 min). */
  loginBackoffMaxSeconds?: number
  /**
   * Failed logins for one username from all addresses together in an hour. Past it, attempts
   * from addresses the account has not logged in from in the last 30 days are let through one
   * at a time, at this limit's average pace (one per 36 s at the default 100); the owner's own
   * addresses are not held. Default 100: more than one address's backoff lets through.
   */
  loginFailuresPerHour?: number
  /** An ioredis client to keep the counters in, shared by every instance using it. Default: the plugin's database. */
  redis?: ThrottleRedisClient
}

/** Prometheus metrics of the plugin's own (logins, refreshes, bcrypt in flight …) in a registry of the host's. */
export interface TokenAuthMetricsOptions {
  /** The host's prom-client `Registry`: the plugin's metrics appear on the host's /metrics. */
  registry: MetricsRegistry
  /** The start of every metric name; a second instance in the same registry needs its own. Default 'token_auth_'. */
  prefix?: string
}

interface CommonOptions {
  /**
   * HMAC key for the HS256 access tokens, and under another algorithm the key the stored signing
   * keys are sealed with (AES-256-GCM); at least 32 bytes. Required.
   */
  secret: string
  /**
   * How access tokens are signed: 'HS256' with `secret` (default), or with a key pair kept in the
   * database and published at `<prefix>/.well-known/jwks.json`: 'ES256' (recommended), 'EdDSA'
   * (Ed25519) or 'RS256'. Verification pins it.
   */
  algorithm?: SigningAlgorithm
  /** With a key pair: rotate when the signing key is this many days old. Default: only on request. */
  keyRotationDays?: number
  /** How long verifiers may cache the JWKS; a new key is published this long (and a little) before it signs. Default 300. */
  jwksCacheSeconds?: number
  /** The `client_id` claim of a login that names no client. Default 'fastify-token-auth'. */
  clientId?: string
  /** Lifetime of an access token. Default 30. */
  accessTokenExpireMinutes?: number
  /** A session ends after this many days without a refresh. Default 14. */
  refreshTokenExpireDays?: number
  /** A session ends this many days after its login, however often it is refreshed. Default 90. */
  sessionMaxDays?: number
  /**
   * A spent refresh token presented again within this many seconds gets one more fresh pair (a
   * retried request, a second tab); later, or a third time, a stolen token is assumed and its
   * session ends. Default 10.
   */
  refreshTokenReuseSeconds?: number
  /** Live sessions one account may have; a login past it ends the least recently used. 1 to 10000, default 100. */
  maxSessionsPerUser?: number
  /** bcrypt cost factor, 4 to 15. Default 12. */
  bcryptCost?: number
  /** Whether `POST /users/` creates accounts. Default 'open'. */
  registration?: 'open' | 'closed'
  /**
   * `iss` of the access tokens, checked on every request, and the discovery document's `issuer`.
   * Default: `publicUrl` followed by the plugin's full prefix, or without `publicUrl`
   * 'fastify-token-auth'.
   */
  issuer?: string
  /** `aud` of the access tokens, checked on every request. Default 'fastify-token-auth'. */
  audience?: string
  /**
   * OpenAPI. With the host's own @fastify/swagger registered first, the plugin's operations and
   * its security scheme join the host's document; otherwise the plugin serves its own at
   * `<prefix>/openapi.json`, Swagger UI at `<prefix>/docs` (and ReDoc on request). false: neither.
   * Default true.
   */
  docs?: boolean | TokenAuthDocsOptions
  /**
   * The host's own OAuth2 scopes beside `me` and `admin`, name → description: `requireScopes`
   * guards routes with them, the Authorize dialog lists them, every user may be granted them.
   */
  scopes?: Record<string, string>
  /** Rename (or with false, omit) the host's `authenticate` / `currentActiveUser` decorators; say the same in TokenAuthTypes. */
  decorators?: { authenticate?: string | false, currentActiveUser?: string | false }
  /** Where the token and account routes live, e.g. '/auth'. Default ''. */
  prefix?: string
  /**
   * Where clients reach the app's root, such as `https://api.example.com` (an absolute http(s)
   * URL without query or fragment): the base of the absolute URLs the plugin gives (the token
   * URL in the OpenAPI documents, the host's too, and the plugin's own document's server) and of
   * the default `issuer`. Default: none, the token URL is a path and the server '/'.
   */
  publicUrl?: string
  /** Limits and login backoff (see TokenAuthThrottleOptions); false: none at all. Default: on, with the defaults. */
  throttle?: TokenAuthThrottleOptions | false
  /** Record the plugin's metrics in the host's registry. Default: none, nothing recorded. */
  metrics?: TokenAuthMetricsOptions
  /**
   * The resource servers that may call `POST <prefix>/introspect` with HTTP Basic: client id → the
   * lowercase hex SHA-256 of its secret (random, at least 32 bytes). Default none: only a bearer
   * token granted `admin` may introspect.
   */
  resourceServers?: Record<string, string>
  /**
   * Also serve the discovery document at `/.well-known/oauth-authorization-server<prefix>` on the
   * app's root, where RFC 8414 §3.1 puts a prefixed issuer's. Needs a URL issuer and the plugin on
   * the root context. Default false.
   */
  metadataAtRoot?: boolean
  /**
   * Send mail (password reset, password changed, email verification) through the host's `send`,
   * from a bounded queue after the answer, with retries. Default none: no mail, and no route that needs it.
   */
  mail?: MailOptions
  /** How long the link of a password reset mail works, in minutes (5 to 1440). Default 30. */
  passwordResetMinutes?: number
  /** How long the link of an email verification mail works, in minutes (5 to 10080). Default 60. */
  emailVerificationMinutes?: number
  /**
   * The issuer an authenticator app shows beside the account, in the `otpauth://` URI of a TOTP
   * enrolment. Default: `mail.serviceName`, or 'fastify-token-auth'.
   */
  totpIssuer?: string
  /**
   * A correct password of an account whose email is not verified answers 403 `Email not verified`
   * instead of tokens (a wrong one answers 401 as ever). Needs a user store with `setVerifiedEmail`.
   * Default false.
   */
  requireVerifiedEmail?: boolean
  /**
   * Also refuse a new password found in a k-anonymity range API of breached passwords (the Pwned
   * Passwords API, `https://api.pwnedpasswords.com/range`, or a mirror): only the first five hex
   * digits of its SHA-1 are sent, with `Add-Padding: true`. An API that does not answer is one
   * warning, and the password is accepted; with `failClosed`, refused with 503. Default none.
   */
  pwnedPasswords?: BreachedPasswordsOptions
}

/** The plugin's options: a database for the sessions (and the built-in user store, unless the host brings its own). */
export interface TokenAuthOptions extends CommonOptions {
  /**
   * A `DATABASE_URL` (`sqlite:PATH`, `sqlite::memory:`, `postgres://…`), or a Kysely instance the
   * host owns and closes. Holds the sessions, and the accounts unless `store` is given.
   */
  database: string | Kysely<any>
  /** PostgreSQL pool size, and the longest wait for the database before answering 503. */
  databaseOptions?: Pick<DatabaseOptions, 'poolSize' | 'timeoutMs'>
  /** The host's own user store; the database then holds only the sessions. */
  store?: UserStore
}

/** The settings a registered plugin runs with. */
export interface TokenAuthSettings {
  /** The full path prefix of the plugin's routes (the host's prefixes included). */
  readonly prefix: string
  readonly tokenUrl: string
  readonly issuer: string
  readonly audience: string
  readonly accessTokenExpireMinutes: number
  readonly refreshTokenExpireDays: number
  readonly sessionMaxDays: number
  readonly refreshTokenReuseSeconds: number
  readonly maxSessionsPerUser: number
  readonly bcryptCost: number
  readonly registration: 'open' | 'closed'
  /** 'host': in the host's OpenAPI document; 'own': the plugin's own document and pages; 'off'. */
  readonly docs: 'host' | 'own' | 'off'
  /** The OpenAPI security scheme the protected operations require. */
  readonly securityScheme: string
  /** How access tokens are signed. */
  readonly algorithm: SigningAlgorithm
  /** The `client_id` of a login that names none. */
  readonly clientId: string
  /** The `Cache-Control: max-age` of the JWKS. */
  readonly jwksCacheSeconds: number
  /** What the operationIds of the plugin's operations start with ('' for none). */
  readonly operationIdPrefix: string
}

/**
 * The sessions of the users, for a host's own administration. Ending sessions is audited; `by`
 * names who did it in the audit line (default `{ actor: 'host' }`).
 */
export interface TokenAuthSessions {
  /** The user's live sessions, the most recently used first. */
  list (username: string): Promise<SessionRecord[]>
  /** Ends one session of the user (audited as session.ended); false when the user has no such session. */
  end (username: string, sessionId: string, by?: AuditActor): Promise<boolean>
  /** Ends every session of the user (signs them out everywhere; audited as sessions.revoked); how many ended. */
  endAll (username: string, by?: AuditActor): Promise<number>
}

/**
 * Account administration for a host (and the service's CLI): each change ends the sessions it
 * must and writes its audit lines, as the plugin's own routes do. `by` names who made it in the
 * audit lines: default `{ actor: 'host' }`. When `by.actor` names the account itself, an
 * administrator's, taking its own admin rights, disabling or deleting it is refused with an
 * error of the table (`OWN_ADMIN_RIGHTS`, `OWN_ACCOUNT_DISABLED`, `OWN_ACCOUNT_DELETED`) and
 * nothing changes.
 */
export interface TokenAuthAccounts {
  /**
   * Creates an account (audited as user.created). The username, email and full name must pass
   * the rules of `POST /users/` (else an AccountRuleError), the password 8 to 72 bytes and not a common one (else a
   * PasswordRuleError); it is hashed at the configured cost. A taken name: UsernameTakenError.
   */
  create (account: NewAccount, by?: AuditActor): Promise<UserRecord>
  /** Sets a new password (checked and hashed as for `create`) and ends every session of the user. Undefined when there is no such user. */
  setPassword (username: string, password: string, by?: AuditActor): Promise<AccountChange | undefined>
  /** Disables the account and ends every session of the user. Undefined when there is no such user. */
  disable (username: string, by?: AuditActor): Promise<AccountChange | undefined>
  /** Enables the account again; false when there is no such user. */
  enable (username: string, by?: AuditActor): Promise<boolean>
  /** Deletes the account and ends its sessions; false when there is no such user. */
  delete (username: string, by?: AuditActor): Promise<boolean>
  /** Changes the profile under the rules of `PATCH /users/me/` (else an AccountRuleError); undefined when there is no such user. */
  update (username: string, changes: ProfileChanges): Promise<UserRecord | undefined>
  /**
   * A page of the accounts as an administrator sees them (with `is_admin`, `created_at` and
   * `live_sessions`), ordered by username; `prefix` keeps the usernames starting with it,
   * ignoring letter case. `limit` 1 to 1000 and `offset` from 0, whole numbers (else a RangeError).
   */
  list (page: UserPage): Promise<AdminUser[]>
  /** One account as an administrator sees it; undefined when there is no such user. */
  get (username: string): Promise<AdminUser | undefined>
  /**
   * Makes the account an administrator (audited as user.admin_granted) or not (user.admin_revoked,
   * ending the user's sessions that hold the `admin` scope). Undefined when there is no such user.
   */
  setAdmin (username: string, isAdmin: boolean, by?: AuditActor): Promise<AccountChange | undefined>
  /**
   * Changes any of `disabled`, `isAdmin`, `email` and `fullName` at once, all or nothing (one
   * user.updated line): disabling ends every session of the user, revoking admin rights those
   * holding `admin`. The account as it is then; undefined when there is no such user.
   */
  adminUpdate (username: string, changes: AdminChanges, by?: AuditActor): Promise<AdminUser | undefined>
  /** Ends every session of every user, but `except` (a session id) when given; how many ended (audited as sessions.revoked_all). */
  endAllSessions (options?: { except?: string }, by?: AuditActor): Promise<number>
  /**
   * Turns the user's second factor off, its TOTP secret and recovery codes gone (a lost
   * authenticator): the next login needs the password only. Sessions go on. Audited as
   * mfa.reset; false when the user had no second factor, on or pending (or there is no such user).
   */
  resetMfa (username: string, by?: AuditActor): Promise<boolean>
}

/** The keys that sign and verify the access tokens. */
export interface TokenAuthKeys {
  /** The public keys a verifier needs (the JWKS's `keys`); none under HS256. */
  jwks (): PublicJwk[]
  /**
   * Publishes a new key pair now, which signs once verifiers have had time to fetch it
   * (`jwksCacheSeconds` and a little); a rotation already waiting is returned instead. Rejects
   * under HS256 (ROTATION_NEEDS_KEY_PAIR).
   */
  rotate (by?: AuditActor): Promise<Rotation>
}

/** Everything the plugin offers a host besides the guard decorators: `app.tokenAuth`. */
export interface TokenAuth {
  readonly settings: TokenAuthSettings
  readonly keys: TokenAuthKeys
  /**
   * The user store the plugin runs on, for code written against the store: reads go to it, and
   * its writes go through `accounts` (a `setPassword`, `setDisabled(…, true)` or `delete` ends
   * the user's sessions, a `setAdmin(…, false)` those holding `admin`; every write is audited
   * with the actor 'host'). `replacePassword` is
   * left out.
   */
  readonly users: UserStore
  readonly accounts: TokenAuthAccounts
  readonly sessions: TokenAuthSessions
  /** The guards, whatever names (if any) the host decorators got. */
  readonly authenticate: Guard
  readonly currentActiveUser: Guard
  /** `currentActiveUser`, then 403 unless the token was granted every one of `scopes` (each defined by this instance, or it throws). */
  requireScopes (...scopes: string[]): Guard
  /**
   * Opens a session for an existing user (after a login of the host's own, say) and answers its
   * tokens, as the password grant does, `scope` read as the form's. Rejects when there is no such
   * user, or with the token endpoint's errors for a scope it refuses.
   */
  issueToken (username: string, options?: { userAgent?: string, scope?: string, clientId?: string }): Promise<Token>
  /** A bcrypt hash at the configured cost, for `users.create` and `users.setPassword`. Rejects a password outside 8 to 72 bytes (UTF-8), or on the list of common ones, with a PasswordRuleError. */
  hashPassword (password: string): Promise<string>
}

declare module 'fastify' {
  interface FastifyInstance extends GuardDecorators {
    readonly tokenAuth: TokenAuth
  }
}

function check (condition: boolean, message: string): void {
  if (!condition) throw optionsError(message)
}

const HOUR_MS = 3_600_000
const NO_LIMITS: Record<LimitName, false> = { token: false, registration: false, revoke: false, passwordChange: false, sessions: false, introspect: false, recovery: false, mfa: false }

/** The throttle plugin's options from the plugin's (checked, with their defaults). */
function throttleSettings (throttle: ResolvedOptions['throttle']) {
  if (throttle === false) return { limits: NO_LIMITS, login: false as const, redis: undefined }
  const { loginBackoffAfter: after, loginBackoffMaxSeconds: maxSeconds, loginFailuresPerHour: perHour, otpFailuresPerHour: _otp, redis, ...limits } = throttle
  return {
    limits,
    login: after === false
      ? false as const
      : { backoffAfter: after, baseDelayMs: 1000, maxDelayMs: maxSeconds * 1000, userLimit: perHour, userWindowMs: HOUR_MS, memoryMs: 24 * HOUR_MS, knownAddressMs: 30 * 24 * HOUR_MS },
    redis
  }
}

// The issuer of the tokens of an instance with neither `issuer` nor `publicUrl`: not a URL, so no discovery.
const DEFAULT_ISSUER = 'fastify-token-auth'

/**
 * The RFC 8414 document of an instance, or undefined when it cannot be served: the issuer is not
 * an http(s) URL, or no `publicUrl` makes the endpoints' URLs absolute.
 */
function discoveryDocument (issuer: string, publicUrl: string | undefined, prefix: string, scopes: ReadonlyMap<string, string>) {
  if (publicUrl === undefined || !/^https?:\/\//i.test(issuer) || !URL.canParse(issuer)) return undefined
  return authorizationServerMetadata(issuer, `${publicUrl}${prefix}`, [...scopes.keys()])
}

/** The document where RFC 8414 §3.1 puts a prefixed issuer's as well: on the app's root, outside the prefix. */
async function serveMetadataAtRoot (host: FastifyInstance, prefix: string, metadata: ReturnType<typeof discoveryDocument>): Promise<void> {
  check(metadata !== undefined, 'metadataAtRoot needs a discovery document, so an http(s) issuer: set publicUrl (the service: PUBLIC_URL)')
  check(host.prefix === '', `metadataAtRoot serves a document on the app's root, but the plugin is registered under the prefix '${host.prefix}': register it on the root context with its own prefix option`)
  // Without a prefix, the document is already there.
  if (prefix === '' || metadata === undefined) return
  const url = `${METADATA_PATH}${prefix}`
  check(!host.hasRoute({ method: 'GET', url }), `metadataAtRoot: the app already has a route GET ${url}`)
  await host.register(metadataRoutes, { metadata, path: url, docs: false })
}

// Who changes an account through the public API, unless the caller says.
const HOST: AuditActor = Object.freeze({ actor: 'host' })

/**
 * The embeddable plugin. The host gets the guard decorators, `tokenAuth`, the
 * `TokenAuth.*` schemas and the routes under `prefix`; the database, user store, hasher and JWT
 * machinery live in an encapsulated context of their own.
 */
export default fp<TokenAuthOptions>(async function tokenAuth (host, opts) {
  const options = resolveOptions(opts)
  check(!options.docs.redoc || redocInstalled(), 'docs.redoc needs the optional redoc package: npm install redoc@2')
  const base = {
    accessTokenExpireMinutes: options.accessTokenExpireMinutes,
    refreshTokenExpireDays: options.refreshTokenExpireDays,
    sessionMaxDays: options.sessionMaxDays,
    refreshTokenReuseSeconds: options.refreshTokenReuseSeconds,
    maxSessionsPerUser: options.maxSessionsPerUser,
    bcryptCost: options.bcryptCost,
    registration: options.registration,
    audience: options.audience,
    prefix: options.prefix
  }
  const throttling = throttleSettings(options.throttle)
  const metrics = options.metrics
  const names = options.decorators
  const guardNames = [names.authenticate ?? 'authenticate', names.currentActiveUser ?? 'currentActiveUser'].filter((name) => name !== false)
  // Checked before anything is opened, so a clash leaves no database file behind.
  for (const name of guardNames) {
    check(!host.hasDecorator(name), `the app already has a '${name}' decorator: give the plugin's another name, or false, with the decorators option`)
  }
  check(!host.hasDecorator('tokenAuth'), "the app already has a 'tokenAuth' decorator: register the plugin once per context")
  check(!options.requireVerifiedEmail || options.store === undefined || typeof options.store.setVerifiedEmail === 'function',
    'requireVerifiedEmail needs a user store that keeps verified addresses: the store has no setVerifiedEmail method')
  if (metrics !== undefined) {
    const taken = AUTH_METRIC_NAMES.map((name) => `${metrics.prefix}${name}`).find((name) => metrics.registry.getSingleMetric(name) !== undefined)
    check(taken === undefined, `the metrics registry already has ${String(taken)}: give each instance in one registry its own metrics.prefix`)
  }
  const docsMode = !options.docs.enabled ? 'off' : host.hasDecorator('swagger') ? 'host' : 'own'
  const docsOptions = options.docs
  const { securityScheme, operationIdPrefix } = docsOptions
  const { publicUrl } = options
  if (docsMode === 'host') {
    const problem = claimInHostDocument(host, securityScheme, operationIdPrefix)
    check(problem === undefined, problem ?? '')
  }
  if (docsMode === 'own') {
    // A host's @fastify/swagger registered after the plugin misses the plugin's routes and locks.
    host.addHook('onReady', async function swaggerAfterThePlugin () {
      if (!host.hasDecorator('swagger')) return
      host.log.warn(`fastify-token-auth: @fastify/swagger was registered after the plugin, so its document lacks the plugin's routes and the locks on guarded routes, and the plugin serves its own at ${context?.child.prefix ?? base.prefix}/openapi.json. Register @fastify/swagger before fastify-token-auth, or pass docs: false to the plugin.`)
    })
  }

  addSchemas(host, authSchemas)
  const scopes = createScopeRules(options.scopes)

  let context: { child: FastifyInstance, internals: Internals, keyRing: KeyRing | undefined } | undefined
  let issuer = DEFAULT_ISSUER
  let passwordRules: NewPasswordRules = newPasswordRules()
  let metadata: ReturnType<typeof discoveryDocument>
  await host.register(async function tokenAuthContext (child) {
    await child.register(schemaCompilers)
    const storage = await openStorage(child, {
      database: options.database,
      databaseOptions: options.databaseOptions,
      store: options.store,
      throttleTables: throttling.redis === undefined,
      policy: {
        refreshTokenExpireDays: base.refreshTokenExpireDays,
        sessionMaxDays: base.sessionMaxDays,
        refreshTokenReuseSeconds: base.refreshTokenReuseSeconds,
        maxSessionsPerUser: base.maxSessionsPerUser
      }
    })
    const passwords = await createPasswordHasher(base.bcryptCost)
    const audit = createAudit(await registerAuthMetrics(child, {
      registry: metrics?.registry, prefix: metrics?.prefix ?? DEFAULT_METRICS_PREFIX, passwords, db: storage.db
    }))
    const throttle = await createThrottle(child, { ...throttling, redisPrefix: `token-auth:${child.prefix}:`, db: storage.db, audit })
    issuer = options.issuer ?? (publicUrl === undefined ? DEFAULT_ISSUER : `${publicUrl}${child.prefix}`)
    const keyRing = options.algorithm === 'HS256'
      ? undefined
      : await openKeyRing({
        db: storage.db,
        algorithm: options.algorithm,
        secret: options.secret,
        jwksCacheSeconds: options.jwksCacheSeconds,
        tokenLifetimeSeconds: base.accessTokenExpireMinutes * 60,
        rotationDays: options.keyRotationDays,
        onScheduledRotation: ({ kid, signsFrom }) => { audit.as(child.log, { actor: 'schedule' })('signing_key.rotated', { kid, signsFrom }) },
        log: child.log
      })
    if (keyRing !== undefined) child.addHook('onClose', async () => { keyRing.close() })
    const tokens = createAccessTokens({
      secret: options.secret,
      algorithm: options.algorithm,
      keys: keyRing,
      expireMinutes: base.accessTokenExpireMinutes,
      issuer,
      audience: base.audience,
      clientId: options.clientId
    })
    const mail = options.mail === undefined ? undefined : createMailer(options.mail, child.log)
    const afterAnswer = createAfterAnswer(child.log)
    // The work after the answers first: it may still queue mail.
    child.addHook('onClose', async () => { await afterAnswer.idle(); await mail?.close() })
    const recoveryTokens = createAccountTokenStore(storage.db)
    passwordRules = newPasswordRules(options.pwnedPasswords === undefined ? undefined : createBreachedPasswordCheck(options.pwnedPasswords, child.log))
    const mfaStore = createMfaStore(storage.db, options.secret)
    const mfa = createMfa({
      store: mfaStore,
      sessions: storage.sessions,
      issuer: options.totpIssuer ?? options.mail?.serviceName ?? DEFAULT_ISSUER,
      failuresPerHour: options.throttle === false ? false : options.throttle.otpFailuresPerHour
    })
    const accounts = createAccounts({
      users: storage.users, sessions: storage.sessions, passwords, newPasswordRules: passwordRules, recoveryTokens, mfa: mfaStore, transaction: storage.userTransaction
    })
    const recovery = mail === undefined
      ? undefined
      : createRecovery({
        users: storage.users,
        accounts,
        tokens: recoveryTokens,
        mail,
        passwords,
        newPasswordRules: passwordRules,
        // throttle: false turns off every limit, the mail quota of an account too.
        hits: options.throttle === false ? async () => 0 : throttle.hits,
        resetMinutes: options.passwordResetMinutes,
        verificationMinutes: options.emailVerificationMinutes
      })
    const internals: Internals = {
      accounts,
      users: storage.users,
      sessions: storage.sessions,
      passwords,
      tokens,
      guards: createGuards(tokens, storage.live, scopes),
      live: storage.live,
      scopes,
      throttle,
      audit,
      afterAnswer,
      mfa,
      ...(mail !== undefined && { mail }),
      ...(recovery !== undefined && { recovery })
    }
    if (docsMode === 'own') {
      const { enabled: _enabled, securityScheme: _scheme, operationIdPrefix: _ids, ...pages } = docsOptions
      await child.register(docs, { ...pages, publicUrl, registration: base.registration })
    }
    await child.register(errors)
    const routeDocs = docsMode === 'off' ? false : { scheme: securityScheme, operationIdPrefix, tokenUrl: `${publicUrl ?? ''}${child.prefix}/token` }
    await child.register(tokenRoutes, { internals, docs: routeDocs, requireVerifiedEmail: options.requireVerifiedEmail })
    await child.register(userRoutes, { internals, registration: base.registration, docs: routeDocs })
    await child.register(accountRoutes, { internals, docs: routeDocs })
    await child.register(sessionRoutes, { internals, docs: routeDocs })
    await child.register(mfaRoutes, { internals, docs: routeDocs })
    await child.register(adminRoutes, { internals, docs: routeDocs })
    if (recovery === undefined) {
      child.log.debug('fastify-token-auth: no mail option, so no password reset or email verification routes: pass mail: { send, resetUrl, verifyUrl } to have them')
    } else {
      await child.register(recoveryRoutes, { internals, recovery, afterAnswer, docs: routeDocs })
    }
    await child.register(jwksRoutes, { tokens, cacheSeconds: options.jwksCacheSeconds, docs: routeDocs })
    await child.register(introspectRoutes, { internals, docs: routeDocs, issuer, audience: base.audience, resourceServers: options.resourceServers })
    metadata = discoveryDocument(issuer, publicUrl, child.prefix, scopes.all)
    if (metadata !== undefined) await child.register(metadataRoutes, { metadata, path: METADATA_PATH, docs: routeDocs })
    // At debug: a host (or the CLI) without a public URL need not hear it on every start.
    else child.log.debug('fastify-token-auth: no discovery document (RFC 8414): the issuer is not an http(s) URL; set publicUrl (the service: PUBLIC_URL) to serve one')
    context = { child, internals, keyRing }
  }, { prefix: base.prefix })
  if (context === undefined) throw new Error('fastify-token-auth: the plugin context did not load')
  const { child, internals, keyRing } = context
  if (options.metadataAtRoot) await serveMetadataAtRoot(host, child.prefix, metadata)

  const settings: TokenAuthSettings = Object.freeze({
    ...base,
    issuer,
    prefix: child.prefix,
    tokenUrl: `${child.prefix}/token`,
    docs: docsMode,
    securityScheme,
    operationIdPrefix,
    algorithm: options.algorithm,
    clientId: options.clientId,
    jwksCacheSeconds: options.jwksCacheSeconds
  })
  const { authenticate, currentActiveUser } = internals.guards
  const { sessions, users: store, accounts, tokens, passwords, audit } = internals
  const byHost = (by: AuditActor = HOST) => audit.as(child.log, by)
  const asAdmin = (by: AuditActor = HOST): AdminActor => ({ actor: by.actor, audit: byHost(by) })
  const found = (change: AccountChange | undefined) => change !== undefined
  host.decorate('tokenAuth', {
    settings,
    keys: Object.freeze({
      jwks: () => tokens.jwks(),
      async rotate (by?: AuditActor) {
        if (keyRing === undefined) throw errorTable.ROTATION_NEEDS_KEY_PAIR.create()
        const rotation = await keyRing.rotate()
        if (rotation.created) byHost(by)('signing_key.rotated', { kid: rotation.kid, signsFrom: rotation.signsFrom })
        return rotation
      }
    } satisfies TokenAuthKeys),
    users: Object.freeze({
      findByUsername: async (username: string) => await store.findByUsername(username),
      create: async (user) => await accounts.createHashed(user, byHost()),
      setPassword: async (username, hashedPassword) => found(await accounts.setPasswordHash(username, hashedPassword, byHost())),
      setDisabled: async (username, disabled) => found(await accounts.setDisabled(username, disabled, asAdmin())),
      update: async (username, changes) => await store.update(username, changes),
      delete: async (username) => await accounts.delete(username, asAdmin()),
      ...(store.list !== undefined && { list: store.list.bind(store) }),
      ...(store.setAdmin !== undefined && { setAdmin: async (username: string, isAdmin: boolean) => found(await accounts.setAdmin(username, isAdmin, asAdmin())) }),
      ...(store.page !== undefined && { page: store.page.bind(store) })
    } satisfies UserStore),
    accounts: Object.freeze({
      create: async (account, by) => await accounts.create(account, byHost(by)),
      setPassword: async (username, password, by) => await accounts.setPassword(username, password, byHost(by)),
      disable: async (username, by) => await accounts.setDisabled(username, true, asAdmin(by)),
      enable: async (username, by) => found(await accounts.setDisabled(username, false, asAdmin(by))),
      delete: async (username, by) => await accounts.delete(username, asAdmin(by)),
      update: async (username, changes) => await accounts.update(username, changes),
      list: async (page) => await accounts.list(page),
      get: async (username) => await accounts.get(username),
      setAdmin: async (username, isAdmin, by) => await accounts.setAdmin(username, isAdmin, asAdmin(by)),
      adminUpdate: async (username, changes, by) => await accounts.adminUpdate(username, changes, asAdmin(by)),
      endAllSessions: async (options = {}, by) => await accounts.endAllSessions(options, asAdmin(by)),
      resetMfa: async (username, by) => await internals.mfa.reset(username, byHost(by))
    } satisfies TokenAuthAccounts),
    sessions: Object.freeze({
      list: async (username: string) => await sessions.list(username),
      async end (username: string, sessionId: string, by?: AuditActor) {
        const ended = await sessions.end(username, sessionId)
        if (ended) byHost(by)('session.ended', { username, endedSession: sessionId })
        return ended
      },
      async endAll (username: string, by?: AuditActor) {
        const endedSessions = await sessions.endAll(username)
        byHost(by)('sessions.revoked', { username, endedSessions })
        return endedSessions
      }
    } satisfies TokenAuthSessions),
    authenticate,
    currentActiveUser,
    requireScopes: (...names: string[]) => internals.guards.requireScopes(names),
    async issueToken (username: string, options: { userAgent?: string, scope?: string, clientId?: string } = {}) {
      const requested = scopes.parse(options.scope)
      const user = await store.findByUsername(username)
      if (user === undefined) throw errorTable.UNKNOWN_USER.create(username)
      const granted = scopes.grant(requested, user.isAdmin === true)
      if (granted === '') throw errorTable.SCOPE_NOT_ALLOWED.create()
      const started = await sessions.start(user.username, options.userAgent, granted, parseClientId(options.clientId))
      if (started === undefined) throw errorTable.UNKNOWN_USER.create(username)
      await sessions.endBeyondCap(user.username)
      return tokens.issue(started.session, started.refreshToken, granted)
    },
    async hashPassword (password: string) {
      const problem = await passwordRules(password)
      if (problem !== undefined) throw new PasswordRuleError(problem)
      return await passwords.hash(password)
    }
  } satisfies TokenAuth)
  if (names.authenticate !== false) host.decorate(names.authenticate ?? 'authenticate', authenticate)
  if (names.currentActiveUser !== false) host.decorate(names.currentActiveUser ?? 'currentActiveUser', currentActiveUser)
  registerGuards(host, internals.guards)
  // A slot on every request, so admitting one does not change its shape.
  if (!host.hasRequestDecorator(ADMITTED_USER)) host.decorateRequest(ADMITTED_USER, null)
  // A route registered from now on that needs a scope no instance defines stops start-up.
  host.addHook('onRoute', (route) => {
    const hooks = [route.onRequest, route.preValidation, route.preHandler].flat()
    const unknown = [...new Set(hooks.flatMap((hook) => scopesOf(hook) ?? []))].filter((name) => !scopes.has(name))
    if (unknown.length > 0) throw errorTable.UNDEFINED_SCOPE.create(unknown)
  })
  // Routes the host guards from now on show the lock in its document.
  if (docsMode === 'host') markGuardedRoutes(host, { authenticate: [authenticate, exportedAuthenticate], currentActiveUser: [currentActiveUser, exportedCurrentActiveUser] }, securityScheme)
}, { name: 'fastify-token-auth', fastify: '5.x' })
