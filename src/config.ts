import { Type, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'

// Every setting the service reads, with its default. The names are the environment
// variables; src/service.ts maps them onto the plugin's options.
export const ConfigSchema = Type.Object({
  HOST: Type.String({ minLength: 1, default: '127.0.0.1' }),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8000 }),
  DATABASE_URL: Type.String({
    pattern: '^sqlite:.+$',
    default: 'sqlite:./data/app.db',
    description: 'sqlite:PATH or sqlite::memory:'
  }),
  JWT_SECRET: Type.Optional(Type.String()),
  ACCESS_TOKEN_EXPIRE_MINUTES: Type.Integer({ minimum: 1, maximum: 10080, default: 30 }),
  BCRYPT_COST: Type.Integer({ minimum: 4, maximum: 15, default: 12 }),
  REGISTRATION: Type.Union([Type.Literal('open'), Type.Literal('closed')], { default: 'open' }),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((level) => Type.Literal(level)),
    { default: 'info' }
  )
})

export type Config = Static<typeof ConfigSchema>

export const MIN_SECRET_BYTES = 32

export class ConfigError extends Error {
  constructor (readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`)
    this.name = 'ConfigError'
  }
}

/**
 * Reads the settings from an environment (process.env unless given), applies defaults
 * and validates them. Throws a ConfigError listing one line per bad variable.
 */
export function loadConfig (env: NodeJS.ProcessEnv = process.env): Config {
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
    if (!problems.has(key)) problems.set(key, `${key}=${JSON.stringify(env[key])}: ${describe(key, error.message)}`)
  }
  const secret = raw.JWT_SECRET
  if (typeof secret === 'string' && Buffer.byteLength(secret, 'utf8') < MIN_SECRET_BYTES) {
    // The value itself is never echoed: it is (meant to be) a secret.
    problems.set('JWT_SECRET', `JWT_SECRET: must be at least ${MIN_SECRET_BYTES} bytes (generate one with: openssl rand -base64 48)`)
  }
  if (problems.size > 0) throw new ConfigError([...problems.values()])
  return candidate as Config
}

function describe (key: string, message: string): string {
  const schema = ConfigSchema.properties[key as keyof Config]
  if (schema === undefined) return message
  if (key === 'REGISTRATION') return 'expected open or closed'
  if (key === 'LOG_LEVEL') return 'expected one of fatal, error, warn, info, debug, trace, silent'
  if (key === 'DATABASE_URL') return 'expected sqlite:PATH or sqlite::memory:'
  if ('minimum' in schema && 'maximum' in schema) {
    return `expected a whole number from ${schema.minimum} to ${schema.maximum}`
  }
  return message
}
