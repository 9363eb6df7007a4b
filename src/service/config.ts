import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { availableParallelism } from 'node:os'
import { parseEnv } from 'node:util'
import { Type, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { isLongEnoughSecret, MIN_SECRET_BYTES } from '../tokens/jwt-secret.js'
import { parsePublicUrl } from '../openapi/public-url.js'

const RATE_PATTERN = '^(off|[1-9][0-9]{0,6}/([1-9][0-9]{0,4})?(s|min|h))$'
const TRUST_PROXY_PATTERN = '^(true|false|[0-9]{1,2}|[0-9a-fA-F.:/]+( *, *[0-9a-fA-F.:/]+)*)$'

// Every setting the service reads, with its default. The names are the environment
// variables; src/service/app.ts maps them onto the plugin's options.
export const ConfigSchema = Type.Object({
  HOST: Type.String({ minLength: 1, default: '127.0.0.1' }),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8000 }),
  DATABASE_URL: Type.String({
    pattern: '^(sqlite:.+|postgres(ql)?://.+)$',
    default: 'sqlite:./data/app.db',
    description: 'sqlite:PATH, sqlite::memory: or postgres://USER:PASSWORD@HOST:PORT/DATABASE'
  }),
  DATABASE_POOL_SIZE: Type.Integer({ minimum: 1, maximum: 100, default: 10 }),
  DATABASE_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 60000, default: 5000 }),
  // Start on an empty SQLite database although the marker beside it says one existed there.
  ALLOW_EMPTY_DATABASE: Type.Boolean({ default: false }),
  WORKERS: Type.String({ pattern: '^(auto|[1-9][0-9]?)$', default: '1' }),
  JWT_SECRET: Type.Optional(Type.String()),
  ACCESS_TOKEN_EXPIRE_MINUTES: Type.Integer({ minimum: 1, maximum: 10080, default: 30 }),
  REFRESH_TOKEN_EXPIRE_DAYS: Type.Integer({ minimum: 1, maximum: 365, default: 14 }),
  SESSION_MAX_DAYS: Type.Integer({ minimum: 1, maximum: 3650, default: 90 }),
  REFRESH_TOKEN_REUSE_SECONDS: Type.Integer({ minimum: 0, maximum: 300, default: 10 }),
  MAX_SESSIONS_PER_USER: Type.Integer({ minimum: 1, maximum: 10000, default: 100 }),
  BCRYPT_COST: Type.Integer({ minimum: 4, maximum: 15, default: 12 }),
  REGISTRATION: Type.Union([Type.Literal('open'), Type.Literal('closed')], { default: 'open' }),
  // Requests per client address: N/PERIOD (s, min, h, optionally with a count: 10/15min), or off.
  RATE_LIMIT_TOKEN: Type.String({ pattern: RATE_PATTERN, default: '60/min' }),
  RATE_LIMIT_REGISTRATION: Type.String({ pattern: RATE_PATTERN, default: '20/h' }),
  RATE_LIMIT_REVOKE: Type.String({ pattern: RATE_PATTERN, default: '60/min' }),
  RATE_LIMIT_PASSWORD_CHANGE: Type.String({ pattern: RATE_PATTERN, default: '20/h' }),
  RATE_LIMIT_SESSIONS: Type.String({ pattern: RATE_PATTERN, default: '60/min' }),
  // Consecutive failed logins of a username from one address before each attempt waits (0: never).
  LOGIN_BACKOFF_AFTER: Type.Integer({ minimum: 0, maximum: 1000, default: 5 }),
  LOGIN_BACKOFF_MAX_SECONDS: Type.Integer({ minimum: 1, maximum: 86400, default: 900 }),
  LOGIN_FAILURES_PER_HOUR: Type.Integer({ minimum: 1, maximum: 1000000, default: 100 }),
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://.+' })),
  // Which proxies to believe about the client address: a hop count, addresses/CIDRs, true, or false.
  TRUST_PROXY: Type.String({ pattern: TRUST_PROXY_PATTERN, default: 'false' }),
  // Origins whose pages may call the API, comma-separated, each exactly scheme://host[:port].
  CORS_ORIGINS: Type.Optional(Type.String()),
  // Where clients reach the service (https://api.example.com): the OpenAPI document's server and token URL.
  PUBLIC_URL: Type.Optional(Type.String()),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((level) => Type.Literal(level)),
    { default: 'info' }
  ),
  // GET /metrics (Prometheus): on the API's port, or with METRICS_PORT only there (on METRICS_HOST, default HOST).
  METRICS: Type.Union([Type.Literal('on'), Type.Literal('off')], { default: 'off' }),
  METRICS_PORT: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
  METRICS_HOST: Type.Optional(Type.String({ minLength: 1 }))
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
 * path read, or undefined.
 */
export function loadEnvFile (env: NodeJS.ProcessEnv = process.env): string | undefined {
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
  }
  return path
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
  for (const key of ['RATE_LIMIT_TOKEN', 'RATE_LIMIT_REGISTRATION', 'RATE_LIMIT_REVOKE', 'RATE_LIMIT_PASSWORD_CHANGE', 'RATE_LIMIT_SESSIONS'] as const) {
    const limit = problems.has(key) ? false : addressLimit(config[key])
    if (limit !== false && limit.windowSeconds > 86_400) problems.set(key, `${key}=${JSON.stringify(config[key])}: the period can be a day at most`)
  }
  if (!problems.has('TRUST_PROXY')) {
    const proxies = trustProxy(config.TRUST_PROXY)
    const bad = Array.isArray(proxies) ? proxies.find((entry) => !isAddressOrCidr(entry)) : undefined
    if (bad !== undefined) problems.set('TRUST_PROXY', `TRUST_PROXY=${JSON.stringify(config.TRUST_PROXY)}: ${JSON.stringify(bad)} is not an IP address or CIDR`)
  }
  if (config.CORS_ORIGINS !== undefined) {
    const problem = corsOrigins(config.CORS_ORIGINS).map(originProblem).find((p) => p !== undefined)
    if (problem !== undefined) problems.set('CORS_ORIGINS', `CORS_ORIGINS=${JSON.stringify(config.CORS_ORIGINS)}: ${problem}`)
  }
  for (const problem of metricsProblems(config, problems)) problems.set(problem.key, problem.message)
  if (config.PUBLIC_URL !== undefined) {
    const parsed = parsePublicUrl(config.PUBLIC_URL)
    if ('problem' in parsed) problems.set('PUBLIC_URL', `PUBLIC_URL=${JSON.stringify(withoutPassword(config.PUBLIC_URL))}: ${parsed.problem}`)
    else config.PUBLIC_URL = parsed.url
  }
  if (problems.size > 0) throw new ConfigError([...problems.values()])
  return config
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
  const schema = ConfigSchema.properties[key as keyof Config]
  if (schema === undefined) return message
  if (key === 'REGISTRATION') return 'expected open or closed'
  if (key === 'LOG_LEVEL') return 'expected one of fatal, error, warn, info, debug, trace, silent'
  if (key === 'DATABASE_URL') return 'expected sqlite:PATH, sqlite::memory: or postgres://USER:PASSWORD@HOST:PORT/DATABASE'
  if (key === 'WORKERS') return 'expected auto or a whole number from 1 to 99'
  if (key.startsWith('RATE_LIMIT_')) return 'expected off, or requests per period such as 60/min, 20/h or 10/15min'
  if (key === 'REDIS_URL') return 'expected redis://[:PASSWORD@]HOST:PORT[/DB] or rediss://…'
  if (key === 'TRUST_PROXY') return 'expected false, true, a hop count, or comma-separated proxy addresses or CIDRs'
  if (key === 'ALLOW_EMPTY_DATABASE') return 'expected true or false'
  if (key === 'METRICS') return 'expected on or off'
  if ('minimum' in schema && 'maximum' in schema) {
    return `expected a whole number from ${schema.minimum} to ${schema.maximum}`
  }
  return message
}
