import { Kind, Type, TypeRegistry, type Static, type TSchema } from '@sinclair/typebox'
import type { BreachedPasswordsOptions } from './accounts/breached-passwords.js'
import { Value, ValueErrorType, type ValueError } from '@sinclair/typebox/value'
import type { Kysely } from 'kysely'
import type { UserStore } from './accounts/user-store.js'
import { DATABASE_URL_PATTERN } from './db/database-url.js'
import { errors } from './errors.js'
import { DEFAULT_DOCS_LEAD, DEFAULT_DOCS_TITLE } from './openapi/openapi-text.js'
import { parsePublicUrl } from './openapi/public-url.js'
import { BUILT_IN_SCOPES, SCOPE_NAME_PATTERN } from './scopes/scopes.js'
import { isLongEnoughSecret, MIN_SECRET_BYTES } from './tokens/jwt-secret.js'
import { CLIENT_ID_PATTERN } from './tokens/client-id.js'
import { SIGNING_ALGORITHMS, type SigningAlgorithm } from './tokens/signing-keys.js'
import type { AddressLimit, MetricsRegistry, ThrottleRedisClient } from './types.js'
import { DEFAULT_SERVICE_NAME, type MailKind, type MailOptions, type MailTemplate, type SendMail } from './mail/index.js'

// The plugin's options as one schema: their types, ranges, defaults and descriptions. The
// plugin validates its options with it, the service takes its settings' ranges and defaults
// from it, and docs/configuration.md is generated from it. `mustBe` words a rule that its
// keywords do not say by themselves, ending the sentence "<option> must be …".

/** Every error about the plugin's options is made here: the error table's OPTIONS, with its code. */
export function optionsError (message: string): Error {
  return errors.OPTIONS.create(message)
}

/** What the plugin's metric names start with unless `metrics.prefix` says otherwise. */
export const DEFAULT_METRICS_PREFIX = 'token_auth_'

/**
 * An object of the host's (a Kysely instance, a user store, an ioredis client, a prom-client
 * registry), checked by its shape: an object with these methods. Any copy or version of the
 * library will do.
 */
const HOST_OBJECT = 'TokenAuthHostObject'
interface HostObjectSchema extends TSchema { typeName: string, methods: string[] }
TypeRegistry.Set<HostObjectSchema>(HOST_OBJECT, (schema, value) => schema.typeName === 'function'
  ? typeof value === 'function'
  : typeof value === 'object' && value !== null && schema.methods.every((method) => typeof (value as Record<string, unknown>)[method] === 'function'))

function hostObject<T> (typeName: string, methods: readonly string[], options: { description: string, mustBe: string }) {
  return Type.Unsafe<T>({ [Kind]: HOST_OBJECT, typeName, methods: [...methods], ...options })
}

const isHostObject = (schema: TSchema): schema is HostObjectSchema => schema[Kind] === HOST_OBJECT

/** A resource server's client id: characters that need no escaping in a URL, a Basic header or INTROSPECTION_CLIENTS. */
export const RESOURCE_SERVER_ID_PATTERN = '^[A-Za-z0-9._~-]{1,64}$'
/** The SHA-256 of a resource server's secret, lowercase hex. */
export const SECRET_HASH_PATTERN = '^[0-9a-f]{64}$'

const STORE_METHODS = ['findByUsername', 'create', 'setPassword', 'setDisabled', 'update', 'delete']
const REGISTRY_METHODS = ['registerMetric', 'getSingleMetric', 'removeSingleMetric']

const addressLimit = (what: string, max: number, windowSeconds: number) => Type.Union([
  Type.Object({
    max: Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'Requests per client address in a window.' }),
    windowSeconds: Type.Integer({ minimum: 1, maximum: 86_400, description: 'The window, in seconds.' })
  }, { additionalProperties: false }),
  Type.Literal(false)
], {
  default: { max, windowSeconds },
  description: `Requests per client address to ${what}: at most \`max\` in each window of \`windowSeconds\`; false: unlimited.`,
  mustBe: 'false or { max, windowSeconds }'
})

const DocsOptions = Type.Object({
  title: Type.Optional(Type.String({ default: DEFAULT_DOCS_TITLE, description: "The plugin's own document: its title." })),
  version: Type.Optional(Type.String({ description: "The plugin's own document: its version. Default: the package's." })),
  description: Type.Optional(Type.String({
    default: DEFAULT_DOCS_LEAD,
    description: "The plugin's own document: its opening paragraph (how to log in and the error statuses follow)."
  })),
  redoc: Type.Optional(Type.Boolean({ default: false, description: 'Also serve ReDoc at `<prefix>/redoc` (needs the optional `redoc` package).' })),
  securityScheme: Type.Optional(Type.String({
    pattern: '^[A-Za-z0-9._-]+$',
    default: 'OAuth2PasswordBearer',
    description: "The name of the OAuth2 password-flow security scheme, in the host's document too. A second instance in one app needs a name of its own.",
    mustBe: 'a name of letters, digits, dots, hyphens or underscores'
  })),
  operationIdPrefix: Type.Optional(Type.String({
    pattern: '^(?:[A-Za-z][A-Za-z0-9_]*)?$',
    default: '',
    description: "What the operationIds of the plugin's operations start with: 'staff' makes `token` `staffToken`. " +
      'A second instance in one host document needs one of its own.',
    mustBe: 'empty, or a letter followed by letters, digits and underscores'
  }))
}, { additionalProperties: false })

const ThrottleOptions = Type.Object({
  token: Type.Optional(addressLimit('`POST /token` (every grant)', 60, 60)),
  registration: Type.Optional(addressLimit('`POST /users/`', 20, 3600)),
  revoke: Type.Optional(addressLimit('`POST /revoke`', 60, 60)),
  passwordChange: Type.Optional(addressLimit('`POST /users/me/password`', 20, 3600)),
  sessions: Type.Optional(addressLimit('`GET /users/me/sessions`', 60, 60)),
  introspect: Type.Optional(addressLimit('`POST /introspect`', 600, 60)),
  recovery: Type.Optional(addressLimit('the account recovery routes (`POST /password-reset`, its `/confirm`, `POST /email/verify` and `POST /users/me/email/verify-request`)', 20, 3600)),
  mfa: Type.Optional(addressLimit('the second-factor routes under `/users/me/mfa`', 30, 3600)),
  otpFailuresPerHour: Type.Optional(Type.Union([Type.Literal(false), Type.Integer({ minimum: 1, maximum: 1000 })], {
    default: 10,
    description: 'Wrong second-factor codes (TOTP or recovery) for one account in an hour, from all addresses together: past it, ' +
      "the account's codes are not checked (429) until the hour from the first is over. Apart from the password's backoff; false: no limit."
  })),
  loginBackoffAfter: Type.Optional(Type.Union([Type.Literal(false), Type.Integer({ minimum: 1, maximum: 1000 })], {
    default: 5,
    description: 'After this many consecutive failed logins for a username from one address, each further attempt from there ' +
      'waits 1 s, 2 s, 4 s … (answered 429, no password checked); false: no backoff.'
  })),
  loginBackoffMaxSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400, default: 900, description: 'The longest of those waits, in seconds.' })),
  loginFailuresPerHour: Type.Optional(Type.Integer({
    minimum: 1,
    maximum: 1_000_000,
    default: 100,
    description: 'Failed logins for one username from all addresses together in an hour. Past it, attempts from addresses the ' +
      'account has not logged in from in the last 30 days are let through one at a time, at this pace (an hour / this number); ' +
      "the owner's own addresses are not held."
  })),
  redis: Type.Optional(hostObject<ThrottleRedisClient>('ioredis client', ['eval'], {
    description: 'An ioredis client to keep the counters in, shared by every instance using it. Unset: the plugin\'s database.',
    mustBe: 'an ioredis client'
  }))
}, { additionalProperties: false })

const MetricsOptions = Type.Object({
  registry: hostObject<MetricsRegistry>('prom-client Registry', REGISTRY_METHODS, {
    description: "The host's prom-client `Registry`: the plugin's metrics appear on the host's /metrics.",
    mustBe: 'a prom-client Registry'
  }),
  prefix: Type.Optional(Type.String({
    pattern: '^[a-zA-Z_:][a-zA-Z0-9_:]*$',
    default: DEFAULT_METRICS_PREFIX,
    description: 'The start of every metric name; a second instance in the same registry needs its own.',
    mustBe: 'the start of a metric name: letters, digits, underscores or colons, not a digit first'
  }))
}, {
  additionalProperties: false,
  description: "Record the plugin's Prometheus metrics (logins, refreshes, bcrypt in flight …) in a registry of the host's. Unset: nothing is recorded.",
  mustBe: 'an object: { registry, prefix? }'
})

/** A function of the host's, kept as it is (a host object whose type is 'function'). */
const hostFunction = <T>(options: { description: string }) => hostObject<T>('function', [], { ...options, mustBe: 'a function' })
// An absolute http(s) URL without credentials or fragment: the link adds `#token=…`.
const LINK_BASE_PATTERN = '^https?://[^\\s/?#@]+([/?][^\\s#]*)?$'
const linkBase = (page: string) => Type.Optional(Type.String({
  pattern: LINK_BASE_PATTERN,
  description: `The front-end's page for ${page}: the mail links to it with \`#token=…\` added. Unset: no such mail.`,
  mustBe: 'an absolute http:// or https:// URL without credentials or fragment'
}))

const mailTemplate = (kind: MailKind) => Type.Optional(hostFunction<MailTemplate>({
  description: `Makes the ${kind} mail: ({ serviceName, username, url }) → { subject, text, html }.`
}))

const MailOptionsSchema = Type.Object({
  send: hostFunction<SendMail>({
    description: 'Delivers one mail `{ to, subject, text, html, kind, url }`, resolving once a server took it; called from a ' +
      'bounded queue after the answer, with retries.'
  }),
  templates: Type.Optional(Type.Object({
    password_reset: mailTemplate('password_reset'),
    password_changed: mailTemplate('password_changed'),
    email_verification: mailTemplate('email_verification')
  }, {
    additionalProperties: false,
    default: {},
    description: "The host's own templates, in place of the plugin's for the kinds given."
  })),
  serviceName: Type.Optional(Type.String({ minLength: 1, maxLength: 100, default: DEFAULT_SERVICE_NAME, description: 'The name the mails give the service.' })),
  resetUrl: linkBase('choosing a new password'),
  verifyUrl: linkBase('confirming an email address')
}, {
  additionalProperties: false,
  description: 'Send mail (password reset, password changed, email verification) through the host\'s `send`. Unset: no mail, and no route that needs it.',
  mustBe: 'an object: { send, templates?, serviceName?, resetUrl?, verifyUrl? }'
})

const decoratorName = (name: string) => Type.Optional(Type.Union([Type.String({ minLength: 1 }), Type.Literal(false)], {
  default: name,
  description: `The name of the host's \`${name}\` decorator; false: none (the guard stays on \`tokenAuth.${name}\`).`,
  mustBe: 'a name or false'
}))

/**
 * The plugin's options as a TypeBox schema: each with its type, range, default and
 * description. The plugin checks its options with it (and a few rules between options that a
 * schema cannot say); a host can check or document its own configuration with it too.
 */
export const TokenAuthOptionsSchema = Type.Object({
  secret: Type.String({
    description: `HMAC key for the HS256 access tokens, and under another algorithm the key the stored signing keys are sealed with; at least ${MIN_SECRET_BYTES} bytes (UTF-8).`,
    mustBe: `a string of at least ${MIN_SECRET_BYTES} bytes`
  }),
  algorithm: Type.Optional(Type.Union(SIGNING_ALGORITHMS.map((name) => Type.Literal(name)), {
    default: 'HS256',
    description: "How access tokens are signed: 'HS256' with `secret` (every verifier holds it), or with a key pair kept in the " +
      "database and published at `<prefix>/.well-known/jwks.json`: 'ES256' (recommended), 'EdDSA' (Ed25519) or 'RS256'.",
    mustBe: `one of ${SIGNING_ALGORITHMS.join(', ')}`
  })),
  keyRotationDays: Type.Optional(Type.Integer({
    minimum: 1,
    maximum: 3650,
    description: 'With a key pair: a new key is published when the signing one is this many days old, and signs once verifiers ' +
      'have had time to fetch it. Unset: only `rotate-key` (or `app.tokenAuth.keys.rotate()`) rotates.'
  })),
  jwksCacheSeconds: Type.Optional(Type.Integer({
    minimum: 1,
    maximum: 86_400,
    default: 300,
    description: 'How long verifiers may cache the JWKS (its `Cache-Control: max-age`): a new key is published at least this long ' +
      '(plus a re-read and clock skew) before it signs.'
  })),
  clientId: Type.Optional(Type.String({
    pattern: CLIENT_ID_PATTERN,
    default: 'fastify-token-auth',
    description: 'The `client_id` claim of a login that names no `client_id` (the first-party client).',
    mustBe: 'at most 255 printable ASCII characters'
  })),
  database: Type.Union([
    Type.String({ pattern: DATABASE_URL_PATTERN, description: '`sqlite:PATH`, `sqlite::memory:` or `postgres://USER:PASSWORD@HOST:PORT/DATABASE`' }),
    hostObject<Kysely<any>>('Kysely', [], { description: 'A Kysely instance the host owns and closes.', mustBe: 'a Kysely instance' })
  ], {
    description: 'A `DATABASE_URL` (`sqlite:PATH`, `sqlite::memory:`, `postgres://…`), or a Kysely instance the host owns and closes. ' +
      'Holds the sessions, and the accounts unless `store` is given.',
    mustBe: 'a DATABASE_URL (sqlite:PATH, sqlite::memory: or postgres://…) or a Kysely instance; it holds the sessions, and the accounts unless store is given'
  }),
  databaseOptions: Type.Optional(Type.Object({
    poolSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 10, description: 'PostgreSQL connections per process.' })),
    timeoutMs: Type.Optional(Type.Integer({
      minimum: 100,
      maximum: 60_000,
      default: 5000,
      // 0 would mean "wait for ever" to the PostgreSQL driver: a stuck database must give 503s, not hangs.
      description: 'Longest wait for a connection, a lock or a query before answering 503, in ms.'
    }))
  }, { additionalProperties: false, default: {}, description: 'For a `database` URL: the pool and the longest wait.' })),
  store: Type.Optional(hostObject<UserStore>('UserStore', STORE_METHODS, {
    description: "The host's own user store (see `UserStore`); the database then holds only the sessions.",
    mustBe: `a UserStore: an object with the methods ${STORE_METHODS.join(', ')}`
  })),
  publicUrl: Type.Optional(Type.String({
    description: 'Where clients reach the app\'s root, such as `https://api.example.com`: the base of the absolute URLs the ' +
      'plugin gives (the security scheme\'s token URL, in the host\'s document too, and the plugin\'s own document\'s server) ' +
      'and of the default `issuer`. Unset: the token URL is a path and the server `/`.',
    mustBe: 'an absolute http:// or https:// URL without a query or fragment, such as https://api.example.com'
  })),
  prefix: Type.Optional(Type.String({
    pattern: '^(/.*)?$',
    default: '',
    description: "Where the token and account routes live, such as '/auth'.",
    mustBe: "empty or a path starting with '/'"
  })),
  accessTokenExpireMinutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_080, default: 30, description: 'Lifetime of an access token, in minutes.' })),
  refreshTokenExpireDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 365, default: 14, description: 'A session ends after this many days without a refresh.' })),
  sessionMaxDays: Type.Optional(Type.Integer({
    minimum: 1,
    maximum: 3650,
    default: 90,
    description: 'A session ends this many days after its login, however often it is refreshed; at least `refreshTokenExpireDays`.'
  })),
  refreshTokenReuseSeconds: Type.Optional(Type.Integer({
    minimum: 0,
    maximum: 300,
    default: 10,
    description: 'A spent refresh token presented again within this many seconds gets one more fresh pair (a retried request, ' +
      'a second tab); later, or a third time, a stolen token is assumed and its session ends.'
  })),
  maxSessionsPerUser: Type.Optional(Type.Integer({
    minimum: 1,
    maximum: 10_000,
    default: 100,
    description: 'Live sessions one account may have; a login past it ends the least recently used.'
  })),
  bcryptCost: Type.Optional(Type.Integer({ minimum: 4, maximum: 15, default: 12, description: 'bcrypt cost factor.' })),
  registration: Type.Optional(Type.Union([Type.Literal('open'), Type.Literal('closed')], {
    default: 'open',
    description: "Whether `POST /users/` creates accounts: 'closed' answers 403 and leaves it out of the docs."
  })),
  passwordResetMinutes: Type.Optional(Type.Integer({ minimum: 5, maximum: 1440, default: 30, description: 'How long the link of a password reset mail works, in minutes.' })),
  emailVerificationMinutes: Type.Optional(Type.Integer({
    minimum: 5,
    maximum: 10_080,
    default: 60,
    description: 'How long the link of an email verification mail works, in minutes.'
  })),
  totpIssuer: Type.Optional(Type.String({
    minLength: 1,
    maxLength: 100,
    pattern: '^[^:]+$',
    description: 'The issuer an authenticator app shows beside the account (in the `otpauth://` URI of a TOTP enrolment). ' +
      "Unset: the mail option's `serviceName`, or 'fastify-token-auth'.",
    mustBe: 'a name of 1 to 100 characters without a colon'
  })),
  requireVerifiedEmail: Type.Optional(Type.Boolean({
    default: false,
    description: 'A correct password of an account whose email is not verified answers 403 `Email not verified` instead of tokens ' +
      '(a wrong one answers as ever). Needs a user store that keeps verified addresses (the built-in one does).'
  })),
  issuer: Type.Optional(Type.String({
    minLength: 1,
    description: '`iss` of the access tokens, checked on every request, and the `issuer` of the discovery document. Unset: ' +
      "`publicUrl` followed by the plugin's prefix (a URL, as discovery needs), or without `publicUrl` 'fastify-token-auth'."
  })),
  audience: Type.Optional(Type.String({ minLength: 1, default: 'fastify-token-auth', description: '`aud` of the access tokens, checked on every request.' })),
  docs: Type.Optional(Type.Union([Type.Boolean(), DocsOptions], {
    default: true,
    description: "OpenAPI. With the host's own @fastify/swagger registered first, the plugin's operations and its security scheme " +
      'join the host\'s document; otherwise the plugin serves its own at `<prefix>/openapi.json`, Swagger UI at `<prefix>/docs` ' +
      '(and ReDoc on request). false: neither. An object: true, with these settings.',
    mustBe: 'true, false or an object of docs options'
  })),
  scopes: Type.Optional(Type.Record(Type.String({ pattern: SCOPE_NAME_PATTERN }), Type.String({ minLength: 1, maxLength: 200 }), {
    additionalProperties: false,
    default: {},
    description: `The host's own OAuth2 scopes beside the built-in ${Object.keys(BUILT_IN_SCOPES).map((name) => `\`${name}\``).join(' and ')}: ` +
      'name → description (shown in the Authorize dialog). Every user may be granted them; a token asking for no scope gets all of them and `me`.',
    mustBe: 'an object of scope names (printable ASCII without space, " or \\, at most 64 characters) to descriptions (1 to 200 characters)'
  })),
  decorators: Type.Optional(Type.Object({
    authenticate: decoratorName('authenticate'),
    currentActiveUser: decoratorName('currentActiveUser')
  }, {
    additionalProperties: false,
    default: {},
    description: "The host's guard decorators: rename them, or with false omit them (say the same in `TokenAuthTypes`)."
  })),
  throttle: Type.Optional(Type.Union([Type.Literal(false), ThrottleOptions], {
    default: {},
    description: 'Limits per client address on the routes a script would hammer, and a backoff per username at the token endpoint; ' +
      'false: none at all. An object: on, with these settings.',
    mustBe: 'false or an object of throttle options'
  })),
  resourceServers: Type.Optional(Type.Record(Type.String({ pattern: RESOURCE_SERVER_ID_PATTERN }), Type.String({ pattern: SECRET_HASH_PATTERN }), {
    additionalProperties: false,
    default: {},
    description: 'The resource servers that may call `POST /introspect` with HTTP Basic: client id → the lowercase hex SHA-256 ' +
      'of its secret (a random secret of at least 32 bytes). Empty: only a bearer token granted `admin` may introspect.',
    mustBe: 'an object of client ids (1 to 64 letters, digits, dots, underscores, tildes or hyphens) to 64 lowercase hex digits (the SHA-256 of the secret)'
  })),
  metadataAtRoot: Type.Optional(Type.Boolean({
    default: false,
    description: 'Also serve the discovery document where RFC 8414 §3.1 puts a prefixed issuer\'s: ' +
      '`/.well-known/oauth-authorization-server<prefix>` on the app\'s root. Needs a URL issuer and the plugin registered on the root context.'
  })),
  metrics: Type.Optional(MetricsOptions),
  mail: Type.Optional(MailOptionsSchema),
  pwnedPasswords: Type.Optional(Type.Object({
    url: Type.String({
      pattern: '^https?://',
      description: 'Also refuse a new password found in this k-anonymity range API of breached passwords, such as ' +
        '`https://api.pwnedpasswords.com/range`: only the first five hex digits of its SHA-1 are sent, with `Add-Padding: true`.'
    }),
    failClosed: Type.Optional(Type.Boolean({ default: false, description: 'When the API cannot be reached: true refuses new passwords with 503; false accepts them, with one warning.' })),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 60_000, default: 3000, description: 'The longest wait for the API, in ms.' }))
  }, {
    additionalProperties: false,
    description: 'Also refuse a new password found in a k-anonymity range API of breached passwords: only the first five hex ' +
      'digits of its SHA-1 are sent, with `Add-Padding: true`. Default none.',
    mustBe: 'an object with url (http:// or https://) and optional failClosed and timeoutMs'
  }))
}, { additionalProperties: false })

/** The options as the schema types them. */
export type TokenAuthOptionsInput = Static<typeof TokenAuthOptionsSchema>

/** The docs options with their defaults. */
export interface ResolvedDocsOptions {
  title: string
  version?: string
  description: string
  redoc: boolean
  securityScheme: string
  operationIdPrefix: string
}

/** The throttle options with their defaults. */
export interface ResolvedThrottleOptions {
  token: AddressLimit | false
  registration: AddressLimit | false
  revoke: AddressLimit | false
  passwordChange: AddressLimit | false
  sessions: AddressLimit | false
  introspect: AddressLimit | false
  recovery: AddressLimit | false
  mfa: AddressLimit | false
  otpFailuresPerHour: number | false
  loginBackoffAfter: number | false
  loginBackoffMaxSeconds: number
  loginFailuresPerHour: number
  redis?: ThrottleRedisClient
}

/** The options, checked, with every default filled in. */
export interface ResolvedOptions {
  secret: string
  algorithm: SigningAlgorithm
  keyRotationDays?: number
  jwksCacheSeconds: number
  clientId: string
  database: string | Kysely<any>
  databaseOptions: { poolSize: number, timeoutMs: number }
  store?: UserStore
  /** Without its trailing slashes. */
  prefix: string
  /** Checked, and without its trailing slashes. */
  publicUrl?: string
  accessTokenExpireMinutes: number
  refreshTokenExpireDays: number
  sessionMaxDays: number
  refreshTokenReuseSeconds: number
  maxSessionsPerUser: number
  bcryptCost: number
  registration: 'open' | 'closed'
  passwordResetMinutes: number
  emailVerificationMinutes: number
  requireVerifiedEmail: boolean
  totpIssuer?: string
  issuer?: string
  audience: string
  /** The docs options (their defaults when docs is true or false); enabled: false when docs is false. */
  docs: ResolvedDocsOptions & { enabled: boolean }
  /** The host's scopes (name → description), beside the built-in ones. */
  scopes: Record<string, string>
  decorators: { authenticate: string | false, currentActiveUser: string | false }
  throttle: false | ResolvedThrottleOptions
  /** Client id → SHA-256 (hex) of its secret. */
  resourceServers: Record<string, string>
  metadataAtRoot: boolean
  metrics?: { registry: MetricsRegistry, prefix: string }
  mail?: MailOptions & { serviceName: string, templates: NonNullable<MailOptions['templates']> }
  pwnedPasswords?: BreachedPasswordsOptions
}

// Fastify's own register options, which reach every plugin beside its own.
const FASTIFY_REGISTER_OPTIONS = new Set(['logLevel', 'logSerializers'])

/**
 * The plugin's options checked against the schema and the rules between them, with every
 * default filled in. Throws one error naming every bad option: its path, the rule, and what
 * was given.
 */
export function resolveOptions (input: TokenAuthOptionsInput): ResolvedOptions {
  const opts = Object.fromEntries(Object.entries(input ?? {}).filter(([key]) => !FASTIFY_REGISTER_OPTIONS.has(key)))
  const problems = schemaProblems(TokenAuthOptionsSchema, opts)
  if (problems.length > 0) throw optionsError(problems.join('; '))
  const filled = withDefaults(TokenAuthOptionsSchema, opts) as Omit<ResolvedOptions, 'docs'> & { docs: boolean | ResolvedDocsOptions }
  const docs = typeof filled.docs === 'object' ? filled.docs : Value.Default(DocsOptions, {}) as ResolvedDocsOptions
  const resolved: ResolvedOptions = { ...filled, prefix: filled.prefix.replace(/\/+$/, ''), docs: { ...docs, enabled: filled.docs !== false } }
  const crossProblems = ruleProblems(resolved)
  if (crossProblems.length > 0) throw optionsError(crossProblems.join('; '))
  const publicUrl = resolved.publicUrl === undefined ? undefined : parsePublicUrl(resolved.publicUrl)
  if (publicUrl !== undefined && 'url' in publicUrl) resolved.publicUrl = publicUrl.url
  return resolved
}

/** The rules a schema cannot say: between options, and on a value's content. */
function ruleProblems (options: ResolvedOptions): string[] {
  const problems: string[] = []
  if (!isLongEnoughSecret(options.secret)) {
    problems.push(`secret must be a string of at least ${MIN_SECRET_BYTES} bytes, got a string of ${Buffer.byteLength(options.secret)} bytes`)
  }
  if (options.sessionMaxDays < options.refreshTokenExpireDays) {
    problems.push(`sessionMaxDays must be at least refreshTokenExpireDays (${options.refreshTokenExpireDays}), got ${given(options.sessionMaxDays)}`)
  }
  const names = Object.values(options.decorators).filter((name) => name !== false)
  if (new Set(names).size !== names.length || names.includes('tokenAuth')) {
    problems.push(`decorators must name two different decorators, neither of them tokenAuth, got ${names.map((name) => `'${name}'`).join(' and ')}`)
  }
  const builtIn = Object.keys(options.scopes).filter((name) => Object.hasOwn(BUILT_IN_SCOPES, name))
  if (builtIn.length > 0) problems.push(`scopes must not redefine a built-in scope, got ${builtIn.map((name) => `'${name}'`).join(' and ')}`)
  const publicUrl = options.publicUrl === undefined ? undefined : parsePublicUrl(options.publicUrl)
  if (publicUrl !== undefined && 'problem' in publicUrl) problems.push(`publicUrl ${publicUrl.problem}`)
  return problems
}

/** A JSON pointer as an option's path: `/throttle/token/max` is `throttle.token.max`. */
const optionPath = (pointer: string) => pointer.slice(1).split('/').map((key) => key.replace(/~1/g, '/').replace(/~0/g, '~')).join('.')

/**
 * What is wrong with a value, one sentence per bad option (the first rule it breaks): `path must
 * be <rule>, got <what was given>`, or `unknown option path`.
 */
function schemaProblems (schema: TSchema, value: unknown): string[] {
  const found = new Map<string, string>()
  collect(Value.Errors(schema, value), found)
  return [...found.values()]
}

function collect (errors: Iterable<ValueError>, found: Map<string, string>): void {
  for (const error of errors) {
    const path = optionPath(error.path)
    // One sentence per option: nothing more about it, or about what it holds.
    if ([...found.keys()].some((done) => done === path || path.startsWith(`${done}.`))) continue
    if (error.type === ValueErrorType.ObjectAdditionalProperties) {
      const known = Object.keys((error.schema as { properties?: object }).properties ?? {})
      found.set(path, `unknown option ${path} (known: ${known.join(', ')})`)
      continue
    }
    if (error.type === ValueErrorType.Union && isObjectLike(error.value)) {
      // An object given where an object is one of the choices: what is wrong inside it.
      const variant = (error.schema.anyOf as TSchema[]).findIndex((inner) => inner[Kind] === 'Object')
      const inner = error.errors[variant]
      if (inner !== undefined) {
        collect(inner, found)
        continue
      }
    }
    found.set(path, `${path === '' ? 'the options' : path} must be ${ruleOf(error.schema)}, got ${given(error.value, error.schema)}`)
  }
}

const isObjectLike = (value: unknown): value is object => typeof value === 'object' && value !== null && !Array.isArray(value)

/** What a schema accepts, as the end of a sentence starting "must be". */
export function ruleOf (schema: TSchema): string {
  if (typeof schema.mustBe === 'string') return schema.mustBe
  switch (schema[Kind]) {
    case 'Integer':
      if (schema.maximum === undefined) return `a whole number of at least ${schema.minimum as number}`
      return `a whole number from ${schema.minimum as number} to ${schema.maximum as number}`
    case 'Boolean': return 'true or false'
    case 'Literal': return typeof schema.const === 'string' ? `'${schema.const}'` : String(schema.const)
    case 'String': return schema.minLength === 1 ? 'a non-empty string' : 'a string'
    case 'Object': return 'an object'
    case 'Union': {
      const rules = (schema.anyOf as TSchema[]).map(ruleOf)
      return rules.length <= 2 ? rules.join(' or ') : `${rules.slice(0, -1).join(', ')} or ${rules.at(-1) as string}`
    }
    default: return String(schema.description ?? 'something else')
  }
}

/** What was given, by its type; numbers and booleans with their value (never a string's: it may be a secret or hold a password). */
function given (value: unknown, schema?: TSchema): string {
  if (value === undefined) return 'nothing'
  if (value === null) return 'null'
  if (typeof value === 'string') return value === '' ? 'an empty string' : 'a string'
  if (typeof value === 'number') return `the number ${value}`
  if (typeof value === 'boolean') return String(value)
  if (typeof value === 'function') return 'a function'
  if (Array.isArray(value)) return 'an array'
  if (typeof value !== 'object') return `a ${typeof value}`
  const name = (Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null)?.constructor?.name
  const what = name === undefined || name === '' || name === 'Object' ? 'an object' : `${/^[AEIO]/.test(name) ? 'an' : 'a'} ${name}`
  const missing = schema !== undefined && isHostObject(schema)
    ? schema.methods.find((method) => typeof (value as Record<string, unknown>)[method] !== 'function')
    : undefined
  return missing === undefined ? what : `${what} without ${missing}`
}

/**
 * The value with the schema's defaults filled in (Value.Default), the host's objects kept as
 * they are: Value.Default clones what it tries against a union's choices, and a Kysely instance
 * or a Redis client must neither be copied nor changed.
 */
function withDefaults (schema: TSchema, value: unknown): unknown {
  const aside: Array<{ path: string[], value: unknown }> = []
  const copy = withoutHostObjects(schema, value, [], aside)
  const filled = Value.Default(schema, copy) as Record<string, unknown>
  for (const { path, value } of aside) {
    const parent = path.slice(0, -1).reduce<Record<string, unknown>>((object, key) => object[key] as Record<string, unknown>, filled)
    parent[path.at(-1) as string] = value
  }
  return filled
}

/** A copy of a checked value's plain objects, without the host objects in it (noted in `aside`). */
function withoutHostObjects (schema: TSchema, value: unknown, path: string[], aside: Array<{ path: string[], value: unknown }>): unknown {
  if (isHostObject(schema) && value !== undefined) {
    aside.push({ path, value })
    return undefined
  }
  if (schema[Kind] === 'Union') {
    const variant = (schema.anyOf as TSchema[]).find((inner) => Value.Check(inner, value))
    return variant === undefined ? value : withoutHostObjects(variant, value, path, aside)
  }
  if (schema[Kind] !== 'Object' || !isObjectLike(value)) return value
  const properties = schema.properties as Record<string, TSchema>
  return Object.fromEntries(Object.entries(value)
    .map(([key, inner]) => [key, withoutHostObjects(properties[key] as TSchema, inner, [...path, key], aside)] as const)
    .filter(([, inner]) => inner !== undefined))
}
