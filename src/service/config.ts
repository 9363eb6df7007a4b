import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { availableParallelism } from 'node:os'
import { parseEnv } from 'node:util'
import { Kind, Type, type Static, type TInteger, type TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { isLongEnoughSecret, MIN_SECRET_BYTES, parsePublicUrl, TokenAuthOptionsSchema } from '../index.js'
import { mailProblems } from './mail/mail-settings.js'

const RATE_PATTERN = '^(off|[1-9][0-9]*/([1-9][0-9]*)?(s|min|h))$'
const TRUST_PROXY_PATTERN = '^(true|false|[0-9]{1,2}|[0-9a-fA-F.:/]+( *, *[0-9a-fA-F.:/]+)*)$'

// The settings that set a plugin option take its range, default and description from the
// plugin's schema; `option` names it (docs/configuration.md lists both). `expected` says what a
// setting accepts where its keywords do not say it by themselves.
const option = TokenAuthOptionsSchema.properties
const throttleOption = option.throttle.anyOf[1].properties
const databaseUrl = option.database.anyOf[0]
const ADDRESS_LIMIT = throttleOption.token.anyOf[0].properties
// One INTROSPECTION_CLIENTS entry: the option's id and hash patterns, joined by a colon.
const CLIENT_ENTRY = '[A-Za-z0-9._~-]{1,64}:[0-9a-f]{64}'

/** A whole-number setting with the range, default and description of the option it sets. */
function integerOf (schema: TInteger, path: string, { minimum, description, default: value }: { minimum?: number, description?: string, default?: number } = {}) {
  return Type.Integer({
    minimum: minimum ?? schema.minimum,
    maximum: schema.maximum,
    default: value ?? schema.default,
    description: description ?? schema.description,
    option: path
  })
}

/** A RATE_LIMIT_* setting for a throttle.* limit: its default written as N/PERIOD. */
function rateOf (name: 'token' | 'registration' | 'revoke' | 'passwordChange' | 'sessions' | 'introspect' | 'recovery' | 'mfa') {
  const schema = throttleOption[name]
  return Type.String({
    pattern: RATE_PATTERN,
    default: rateText(schema.default as { max: number, windowSeconds: number }),
    description: `${schema.description as string} Here N/PERIOD (\`60/min\`, \`20/h\`, \`10/15min\`, \`5/s\`) for max/windowSeconds, \`off\` for false.`,
    expected: 'off, or requests per period such as 60/min, 20/h or 10/15min',
    option: `throttle.${name}`
  })
}

// Every setting the service reads, with its default. The names are the environment
// variables; src/service/server.ts maps them onto the plugin's options.
export const ConfigSchema = Type.Object({
  HOST: Type.String({ minLength: 1, default: '127.0.0.1', description: 'Interface to listen on.' }),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8000, description: 'Port to listen on.' }),
  DATABASE_URL: Type.String({
    pattern: databaseUrl.pattern,
    default: 'sqlite:./data/app.db',
    description: `${databaseUrl.description as string}.`,
    expected: 'sqlite:PATH, sqlite::memory: or postgres://USER:PASSWORD@HOST:PORT/DATABASE',
    option: 'database'
  }),
  DATABASE_POOL_SIZE: integerOf(option.databaseOptions.properties.poolSize, 'databaseOptions.poolSize'),
  DATABASE_TIMEOUT_MS: integerOf(option.databaseOptions.properties.timeoutMs, 'databaseOptions.timeoutMs'),
  DATABASE_CONNECT_TIMEOUT_SECONDS: Type.Integer({
    minimum: 0,
    maximum: 3600,
    default: 30,
    description: 'PostgreSQL: how long start-up keeps trying to reach an unreachable server (retrying with backoff, a warning ' +
      'for each try) before it gives up and exits 1; 0: one try.'
  }),
  ALLOW_EMPTY_DATABASE: Type.Boolean({
    default: false,
    description: '`true` starts on an empty SQLite database although the marker beside it says one existed there; set it for one start only.'
  }),
  WORKERS: Type.String({
    pattern: '^(auto|[1-9][0-9]?)$',
    default: '1',
    description: 'Worker processes sharing the port; `auto` is one per CPU.',
    expected: 'auto or a whole number from 1 to 99'
  }),
  JWT_SECRET: Type.Optional(Type.String({
    description: `${option.secret.description as string} Required with PostgreSQL; unset with SQLite, one is generated and kept ` +
      'beside the database (`openssl rand -base64 48` makes one).',
    expected: `at least ${MIN_SECRET_BYTES} bytes`,
    option: 'secret'
  })),
  JWT_ALGORITHM: Type.Union(option.algorithm.anyOf, {
    default: option.algorithm.default,
    description: option.algorithm.description,
    expected: option.algorithm.mustBe,
    option: 'algorithm'
  }),
  JWT_KEY_ROTATION_DAYS: Type.Optional(integerOf(option.keyRotationDays, 'keyRotationDays')),
  JWKS_CACHE_SECONDS: integerOf(option.jwksCacheSeconds, 'jwksCacheSeconds'),
  CLIENT_ID: Type.String({
    pattern: option.clientId.pattern,
    default: option.clientId.default,
    description: option.clientId.description,
    expected: option.clientId.mustBe,
    option: 'clientId'
  }),
  ACCESS_TOKEN_EXPIRE_MINUTES: integerOf(option.accessTokenExpireMinutes, 'accessTokenExpireMinutes'),
  REFRESH_TOKEN_EXPIRE_DAYS: integerOf(option.refreshTokenExpireDays, 'refreshTokenExpireDays'),
  SESSION_MAX_DAYS: integerOf(option.sessionMaxDays, 'sessionMaxDays'),
  REFRESH_TOKEN_REUSE_SECONDS: integerOf(option.refreshTokenReuseSeconds, 'refreshTokenReuseSeconds'),
  MAX_SESSIONS_PER_USER: integerOf(option.maxSessionsPerUser, 'maxSessionsPerUser'),
  BCRYPT_COST: integerOf(option.bcryptCost, 'bcryptCost'),
  REGISTRATION: Type.Union(option.registration.anyOf, { default: option.registration.default, description: option.registration.description, option: 'registration' }),
  PASSWORD_RESET_MINUTES: integerOf(option.passwordResetMinutes, 'passwordResetMinutes'),
  EMAIL_VERIFICATION_MINUTES: integerOf(option.emailVerificationMinutes, 'emailVerificationMinutes'),
  TOTP_ISSUER: Type.Optional(Type.String({
    minLength: 1,
    maxLength: 100,
    pattern: option.totpIssuer.pattern,
    expected: option.totpIssuer.mustBe,
    description: `${option.totpIssuer.description as string} Here unset: \`SERVICE_NAME\`.`,
    option: 'totpIssuer'
  })),
  REQUIRE_VERIFIED_EMAIL: Type.Boolean({ default: false, description: option.requireVerifiedEmail.description, option: 'requireVerifiedEmail' }),
  RATE_LIMIT_TOKEN: rateOf('token'),
  RATE_LIMIT_REGISTRATION: rateOf('registration'),
  RATE_LIMIT_REVOKE: rateOf('revoke'),
  RATE_LIMIT_PASSWORD_CHANGE: rateOf('passwordChange'),
  RATE_LIMIT_SESSIONS: rateOf('sessions'),
  RATE_LIMIT_INTROSPECT: rateOf('introspect'),
  RATE_LIMIT_RECOVERY: rateOf('recovery'),
  RATE_LIMIT_MFA: rateOf('mfa'),
  OTP_FAILURES_PER_HOUR: integerOf(throttleOption.otpFailuresPerHour.anyOf[1], 'throttle.otpFailuresPerHour', {
    minimum: 0,
    default: throttleOption.otpFailuresPerHour.default,
    description: `${throttleOption.otpFailuresPerHour.description as string} Here 0 for false.`
  }),
  LOGIN_BACKOFF_AFTER: integerOf(throttleOption.loginBackoffAfter.anyOf[1], 'throttle.loginBackoffAfter', {
    minimum: 0,
    default: throttleOption.loginBackoffAfter.default,
    description: `${throttleOption.loginBackoffAfter.description as string} Here 0 for false.`
  }),
  LOGIN_BACKOFF_MAX_SECONDS: integerOf(throttleOption.loginBackoffMaxSeconds, 'throttle.loginBackoffMaxSeconds'),
  LOGIN_FAILURES_PER_HOUR: integerOf(throttleOption.loginFailuresPerHour, 'throttle.loginFailuresPerHour'),
  REDIS_URL: Type.Optional(Type.String({
    pattern: '^rediss?://.+',
    expected: 'redis://[:PASSWORD@]HOST:PORT[/DB] or rediss://…',
    description: '`redis://…`: keep the throttling counters in Redis instead of the database (the service connects a client for `throttle.redis`).',
    option: 'throttle.redis'
  })),
  TRUST_PROXY: Type.String({
    pattern: TRUST_PROXY_PATTERN,
    default: 'false',
    expected: 'false, true, a hop count, or comma-separated proxy addresses or CIDRs',
    description: 'Which proxies may say who the client is (`X-Forwarded-For`): their addresses or CIDRs, comma-separated ' +
      '(recommended), a hop count, `true` (whoever connects) or `false`.'
  }),
  CORS_ORIGINS: Type.Optional(Type.String({
    description: 'Origins whose pages may call the API, comma-separated, each `scheme://host[:port]` exactly as browsers send it; `*` is refused. Unset: no CORS.'
  })),
  INTROSPECTION_CLIENTS: Type.Optional(Type.String({
    pattern: `^${CLIENT_ENTRY}( *, *${CLIENT_ENTRY})*$`,
    description: `${option.resourceServers.description as string} Here comma-separated \`id:sha256hex\`; ` +
      '`npm run cli -- new-resource-server NAME` makes a secret and its entry.',
    expected: 'comma-separated id:sha256hex entries (an id of 1 to 64 letters, digits, dots, underscores, tildes or hyphens; 64 lowercase hex digits)',
    option: 'resourceServers'
  })),
  PUBLIC_URL: Type.Optional(Type.String({
    description: option.publicUrl.description,
    expected: option.publicUrl.mustBe,
    option: 'publicUrl'
  })),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((level) => Type.Literal(level)),
    { default: 'info', description: 'pino level.' }
  ),
  METRICS: Type.Union([Type.Literal('on'), Type.Literal('off')], {
    default: 'off',
    description: '`on` serves `GET /metrics` (Prometheus) on the API\'s port, or with `METRICS_PORT` only there; the plugin\'s metrics are recorded too.',
    option: 'metrics'
  }),
  METRICS_PORT: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: 'Serve `/metrics` on this port only, not on `PORT` (with `METRICS=on`).' })),
  METRICS_HOST: Type.Optional(Type.String({ minLength: 1, description: 'The interface `METRICS_PORT` listens on. Unset: `HOST`.' })),
  PWNED_PASSWORDS_URL: Type.Optional(Type.String({
    pattern: '^https?://\\S+$',
    expected: 'an http(s) URL such as https://api.pwnedpasswords.com/range',
    description: option.pwnedPasswords.properties.url.description,
    option: 'pwnedPasswords.url'
  })),
  PWNED_PASSWORDS_FAIL_CLOSED: Type.Boolean({
    default: false,
    description: option.pwnedPasswords.properties.failClosed.description,
    option: 'pwnedPasswords.failClosed'
  }),
  // Mail (docs/mail.md): SMTP, or for development the log; none, and no route that sends mail.
  SMTP_URL: Type.Optional(Type.String({
    pattern: '^smtps?://[^\\s/?#]+/?$',
    expected: 'smtp://[USER:PASSWORD@]HOST[:PORT] or smtps://… (TLS from the start)',
    description: 'Send mail through this SMTP server: `smtp://` (upgraded with STARTTLS when offered) or `smtps://`, with ' +
      'URL-encoded credentials if any (never logged). Needs `MAIL_FROM`.',
    option: 'mail.send'
  })),
  MAIL_FROM: Type.Optional(Type.String({ minLength: 3, description: 'The From of the mails, such as `Example <no-reply@example.com>`; required with `SMTP_URL`.' })),
  SMTP_TIMEOUT_MS: Type.Integer({
    minimum: 1000,
    maximum: 120_000,
    default: 10_000,
    description: 'Longest wait to connect, for the greeting and for each answer of the SMTP server; a mail not sent is tried again later.'
  }),
  SMTP_TLS_REJECT_UNAUTHORIZED: Type.Boolean({ default: true, description: '`false` accepts an SMTP server\'s certificate that does not verify (a test relay only).' }),
  MAIL_TRANSPORT: Type.Optional(Type.Union([Type.Literal('smtp'), Type.Literal('log')], {
    description: '`smtp` (the default with `SMTP_URL`), or `log`: write every mail, link and token included, to the log at info ' +
      'instead of sending it, for local development only (refused with `NODE_ENV=production`).'
  })),
  RESET_URL: Type.Optional(Type.String({
    pattern: option.mail.properties.resetUrl.pattern,
    description: option.mail.properties.resetUrl.description,
    expected: option.mail.properties.resetUrl.mustBe,
    option: 'mail.resetUrl'
  })),
  VERIFY_URL: Type.Optional(Type.String({
    pattern: option.mail.properties.verifyUrl.pattern,
    description: option.mail.properties.verifyUrl.description,
    expected: option.mail.properties.verifyUrl.mustBe,
    option: 'mail.verifyUrl'
  })),
  SERVICE_NAME: Type.String({
    minLength: 1,
    maxLength: 100,
    default: option.mail.properties.serviceName.default,
    description: option.mail.properties.serviceName.description,
    option: 'mail.serviceName'
  })
})

export type Config = Static<typeof ConfigSchema>

export class ConfigError extends Error {
  constructor (readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`)
    this.name = 'ConfigError'
  }
}

/**
 * Adds the settings of an env file to `env` (process.env unless given), never overriding a
 * variable already set there. The file is ENV_FILE, else `.env` in the working directory; a
 * missing `.env` is no error, a missing ENV_FILE is, and ENV_FILE='' reads none. Returns the
 * path read, or undefined. `onUnknown` is told each key of the file that is no setting but
 * looks like a mistyped one (see likelySetting), with the setting it likely means.
 */
export function loadEnvFile (env: NodeJS.ProcessEnv = process.env, { onUnknown }: { onUnknown?: (key: string, likely: string) => void } = {}): string | undefined {
  const path = env.ENV_FILE ?? '.env'
  if (path === '') return undefined
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT' && env.ENV_FILE === undefined) return undefined
    throw new ConfigError([`ENV_FILE=${JSON.stringify(path)}: cannot be read (${code ?? String(error)})`])
  }
  for (const [key, value] of Object.entries(parseEnv(text))) {
    if (env[key] === undefined) env[key] = value
    const likely = likelySetting(key)
    if (likely !== undefined) onUnknown?.(key, likely)
  }
  return path
}

const SETTINGS = Object.keys(ConfigSchema.properties)
const words = (name: string) => name.split('_')

/**
 * The setting a name that is none likely means, or undefined (a setting, or a name unlike any):
 * within a few edits of one (a quarter of its letters, rounded up; case ignored), or sharing the
 * first two words of one, or one's name extended or cut short by whole words (JWT_SECRET_KEY,
 * REDIS). Of several, the fewest edits away.
 */
export function likelySetting (key: string): string | undefined {
  if (SETTINGS.includes(key) || key === 'ENV_FILE') return undefined
  const upper = key.toUpperCase()
  const near = SETTINGS.filter((setting) => {
    const [a, b] = [words(upper), words(setting)]
    const shareTwoWords = a.length >= 2 && b.length >= 2 && a[0] === b[0] && a[1] === b[1]
    const byWords = upper.startsWith(`${setting}_`) || setting.startsWith(`${upper}_`)
    return shareTwoWords || byWords || editDistance(upper, setting) <= Math.ceil(setting.length / 4)
  })
  return near.sort((a, b) => editDistance(upper, a) - editDistance(upper, b))[0]
}

/** Levenshtein distance: the fewest insertions, deletions and substitutions turning `a` into `b`. */
function editDistance (a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    previous = current
  }
  return previous[b.length] ?? 0
}

/**
 * Reads the settings from an environment (process.env unless given), applies defaults
 * and validates them. Throws a ConfigError listing one line per bad variable. The CLI, which
 * signs no tokens, passes `{ server: false }` to skip the rules that only concern serving.
 */
export function loadConfig (env: NodeJS.ProcessEnv = process.env, { server = true } = {}): Config {
  const raw: Record<string, unknown> = {}
  // One line per variable, even when a value breaks several rules.
  const problems = new Map<string, string>()
  for (const [key, schema] of Object.entries(ConfigSchema.properties)) {
    const value = env[key]
    // An empty variable means "unset", as shells and .env files tend to produce them.
    if (value === undefined || value === '') continue
    // Value.Convert would truncate "1.5" to 1; a whole number must be written as one.
    if (schema.type === 'integer' && !/^-?\d+$/.test(value.trim())) {
      problems.set(key, `${key}=${JSON.stringify(value)}: ${describe(key, 'expected a whole number')}`)
      continue
    }
    raw[key] = value
  }
  const candidate = Value.Default(ConfigSchema, Value.Convert(ConfigSchema, raw))
  for (const error of Value.Errors(ConfigSchema, candidate)) {
    const key = error.path.replace(/^\//, '')
    // Not echoed: a secret pasted in place of its hash would end up in the log.
    if (key === 'INTROSPECTION_CLIENTS' && !problems.has(key)) problems.set(key, `${key}: ${describe(key, error.message)}`)
    if (!problems.has(key)) problems.set(key, `${key}=${JSON.stringify(withoutPassword(env[key]))}: ${describe(key, error.message)}`)
  }
  const secret = raw.JWT_SECRET
  if (secret !== undefined && !isLongEnoughSecret(secret)) {
    // The value itself is never echoed: it is (meant to be) a secret.
    problems.set('JWT_SECRET', `JWT_SECRET: must be at least ${MIN_SECRET_BYTES} bytes (generate one with: openssl rand -base64 48)`)
  }
  const config = candidate as Config
  if (server && !problems.has('DATABASE_URL') && config.DATABASE_URL.startsWith('postgres') && secret === undefined) {
    problems.set('JWT_SECRET', 'JWT_SECRET: required with a PostgreSQL DATABASE_URL (every instance must sign with the same secret)')
  }
  if (server && !problems.has('WORKERS') && config.WORKERS !== '1' && config.DATABASE_URL === 'sqlite::memory:') {
    problems.set('WORKERS', `WORKERS=${JSON.stringify(config.WORKERS)}: worker processes cannot share an in-memory database; use a file or PostgreSQL`)
  }
  if (!problems.has('SESSION_MAX_DAYS') && !problems.has('REFRESH_TOKEN_EXPIRE_DAYS') && config.SESSION_MAX_DAYS < config.REFRESH_TOKEN_EXPIRE_DAYS) {
    problems.set('SESSION_MAX_DAYS', `SESSION_MAX_DAYS=${config.SESSION_MAX_DAYS}: must be at least REFRESH_TOKEN_EXPIRE_DAYS (${config.REFRESH_TOKEN_EXPIRE_DAYS})`)
  }
  for (const key of ['RATE_LIMIT_TOKEN', 'RATE_LIMIT_REGISTRATION', 'RATE_LIMIT_REVOKE', 'RATE_LIMIT_PASSWORD_CHANGE', 'RATE_LIMIT_SESSIONS', 'RATE_LIMIT_INTROSPECT', 'RATE_LIMIT_RECOVERY', 'RATE_LIMIT_MFA'] as const) {
    const limit = problems.has(key) ? false : addressLimit(config[key])
    if (limit === false) continue
    const [maxCount, maxSeconds] = [ADDRESS_LIMIT.max.maximum as number, ADDRESS_LIMIT.windowSeconds.maximum as number]
    if (limit.max > maxCount) problems.set(key, `${key}=${JSON.stringify(config[key])}: the count can be ${maxCount} at most`)
    else if (limit.windowSeconds > maxSeconds) problems.set(key, `${key}=${JSON.stringify(config[key])}: the period can be ${maxSeconds} s at most`)
  }
  if (!problems.has('TRUST_PROXY')) {
    const proxies = trustProxy(config.TRUST_PROXY)
    const bad = Array.isArray(proxies) ? proxies.find((entry) => !isAddressOrCidr(entry)) : undefined
    if (bad !== undefined) problems.set('TRUST_PROXY', `TRUST_PROXY=${JSON.stringify(config.TRUST_PROXY)}: ${JSON.stringify(bad)} is not an IP address or CIDR`)
  }
  if (config.INTROSPECTION_CLIENTS !== undefined && !problems.has('INTROSPECTION_CLIENTS')) {
    const ids = introspectionClientEntries(config.INTROSPECTION_CLIENTS).map(([id]) => id)
    const repeated = ids.find((id, i) => ids.indexOf(id) !== i)
    if (repeated !== undefined) problems.set('INTROSPECTION_CLIENTS', `INTROSPECTION_CLIENTS: the id ${repeated} is given twice`)
  }
  if (config.CORS_ORIGINS !== undefined) {
    const problem = corsOrigins(config.CORS_ORIGINS).map(originProblem).find((p) => p !== undefined)
    if (problem !== undefined) problems.set('CORS_ORIGINS', `CORS_ORIGINS=${JSON.stringify(config.CORS_ORIGINS)}: ${problem}`)
  }
  for (const problem of metricsProblems(config, problems)) problems.set(problem.key, problem.message)
  for (const problem of mailProblems(config, env, problems)) problems.set(problem.key, problem.message)
  if (config.PUBLIC_URL !== undefined) {
    const parsed = parsePublicUrl(config.PUBLIC_URL)
    if ('problem' in parsed) problems.set('PUBLIC_URL', `PUBLIC_URL=${JSON.stringify(withoutPassword(config.PUBLIC_URL))}: ${parsed.problem}`)
    else config.PUBLIC_URL = parsed.url
  }
  if (problems.size > 0) throw new ConfigError([...problems.values()])
  return config
}

function introspectionClientEntries (value: string): Array<[string, string]> {
  return value.split(',').map((entry) => {
    const [id = '', hash = ''] = entry.trim().split(':')
    return [id, hash]
  })
}

/** INTROSPECTION_CLIENTS as the `resourceServers` option: client id → SHA-256 (hex) of its secret (unset: none). */
export function introspectionClients (value: string | undefined): Record<string, string> {
  return value === undefined ? {} : Object.fromEntries(introspectionClientEntries(value))
}

/** CORS_ORIGINS as a list (unset: none). */
export function corsOrigins (value: string | undefined): string[] {
  return value === undefined ? [] : value.split(',').map((part) => part.trim())
}

const ORIGIN = /^[a-z][a-z0-9+.-]*:\/\/(\[[0-9a-f:.]+\]|[a-z0-9._~-]+)(:([0-9]{1,5}))?$/i

/** Why an entry is not an origin as a browser sends it in `Origin`, which is matched exactly. */
function originProblem (entry: string): string | undefined {
  if (entry === '') return 'an empty entry; expected comma-separated origins such as https://app.example.com'
  if (entry === '*') return '"*" would let every site call the API; list the origins of your apps'
  const malformed = `${JSON.stringify(entry)} is not an origin: expected scheme://host[:port], with no path (https://app.example.com)`
  const match = ORIGIN.exec(entry)
  if (match === null || Number(match[3] ?? 0) > 65535) return malformed
  if (!/^https?:/i.test(entry)) return undefined
  const canonical = URL.canParse(entry) ? new URL(entry).origin : undefined
  if (canonical === undefined) return malformed
  return canonical === entry ? undefined : `${JSON.stringify(entry)}: write it as browsers send it, ${canonical}`
}

/** A port or host of its own for /metrics only makes sense with metrics on, and a port other than the API's. */
function metricsProblems (config: Config, problems: Map<string, string>): Array<{ key: string, message: string }> {
  const found: Array<{ key: string, message: string }> = []
  const port = config.METRICS_PORT
  if (port !== undefined && !problems.has('METRICS_PORT') && !problems.has('METRICS')) {
    if (config.METRICS !== 'on') found.push({ key: 'METRICS_PORT', message: `METRICS_PORT=${port}: only with METRICS=on` })
    else if (!problems.has('PORT') && port === config.PORT) found.push({ key: 'METRICS_PORT', message: `METRICS_PORT=${port}: must differ from PORT` })
  }
  if (config.METRICS_HOST !== undefined && port === undefined && !problems.has('METRICS_PORT')) {
    found.push({ key: 'METRICS_HOST', message: `METRICS_HOST=${JSON.stringify(config.METRICS_HOST)}: only with METRICS_PORT (without it, /metrics is served on HOST and PORT)` })
  }
  return found
}

const PERIOD_SECONDS: Record<string, number> = { s: 1, min: 60, h: 3600 }

/** A limit per address as a RATE_LIMIT_* value, in the largest unit that divides its window. */
function rateText ({ max, windowSeconds }: { max: number, windowSeconds: number }): string {
  const [count, unit] = windowSeconds % 3600 === 0 ? [windowSeconds / 3600, 'h'] : windowSeconds % 60 === 0 ? [windowSeconds / 60, 'min'] : [windowSeconds, 's']
  return `${max}/${count === 1 ? '' : count}${unit}`
}

/** A RATE_LIMIT_* value as a limit per address, or false for off. */
export function addressLimit (value: string): { max: number, windowSeconds: number } | false {
  const match = /^(\d+)\/(\d*)(s|min|h)$/.exec(value)
  if (match === null) return false
  const [, max, count, unit] = match as unknown as [string, string, string, string]
  return { max: Number(max), windowSeconds: Number(count === '' ? 1 : count) * (PERIOD_SECONDS[unit] ?? 1) }
}

/** TRUST_PROXY as Fastify's trustProxy: a boolean, a list of addresses, or (a hop count) the nearest N hops. */
export function trustProxy (value: string): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (value === 'true' || value === 'false') return value === 'true'
  if (/^\d+$/.test(value)) {
    const hops = Number(value)
    return (_address, hop) => hop < hops
  }
  return value.split(',').map((part) => part.trim())
}

/**
 * The start-up warning for a TRUST_PROXY that believes whoever connects (`true`, a hop count)
 * while HOST lets clients connect directly; undefined when there is no such risk.
 */
export function trustProxyRisk (config: Pick<Config, 'HOST' | 'TRUST_PROXY'>): string | undefined {
  const trusted = trustProxy(config.TRUST_PROXY)
  const blind = trusted === true || (typeof trusted === 'function' && Number(config.TRUST_PROXY) > 0)
  if (!blind || isLoopbackHost(config.HOST)) return undefined
  const what = trusted === true ? 'every address in X-Forwarded-For' : `the nearest ${config.TRUST_PROXY} hop(s) of X-Forwarded-For`
  return `TRUST_PROXY=${config.TRUST_PROXY} believes ${what} whoever connects, and HOST=${config.HOST} lets clients ` +
    'connect directly: such a client can claim any address and escape the per-address limits. ' +
    'Set TRUST_PROXY to the addresses or CIDRs of your proxies (TRUST_PROXY=10.0.0.5), or listen on 127.0.0.1'
}

function isLoopbackHost (host: string): boolean {
  const address = host.replace(/^\[(.*)\]$/, '$1').toLowerCase()
  if (address === 'localhost' || address === '::1') return true
  const v4 = address.replace(/^::ffff:/, '')
  return isIP(v4) === 4 && v4.startsWith('127.')
}

function isAddressOrCidr (entry: string): boolean {
  const [address = '', bits, ...rest] = entry.split('/')
  const family = isIP(address)
  if (family === 0 || rest.length > 0) return false
  return bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128))
}

/** How many worker processes WORKERS asks for (`auto`: one per CPU). */
export function workerCount (config: Config): number {
  return config.WORKERS === 'auto' ? availableParallelism() : Number(config.WORKERS)
}

/** A value as it may be echoed: a URL's password (as in a mistyped DATABASE_URL) masked. */
function withoutPassword (value: string | undefined): string | undefined {
  return value?.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@]*@/i, '$1***@')
}

function describe (key: string, message: string): string {
  const schema = (ConfigSchema.properties as Record<string, TSchema>)[key]
  const rule = schema === undefined ? undefined : settingRule(schema)
  return rule === undefined ? message : `expected ${rule}`
}

/** What a setting's schema accepts (its `expected`, a range, or its values), for messages and docs/configuration.md. */
export function settingRule (schema: TSchema): string | undefined {
  if (typeof schema.expected === 'string') return schema.expected
  if (schema[Kind] === 'Integer') return `a whole number from ${schema.minimum as number} to ${schema.maximum as number}`
  if (schema[Kind] === 'Boolean') return 'true or false'
  if (schema[Kind] !== 'Union') return undefined
  const values = (schema.anyOf as TSchema[]).map((choice) => String(choice.const))
  return values.length > 2 ? `one of ${values.join(', ')}` : values.join(' or ')
}
