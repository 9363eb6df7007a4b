import t from 'tap'
import { availableParallelism } from 'node:os'
import type { TSchema } from '@sinclair/typebox'
import { TokenAuthOptionsSchema } from '../../src/index.js'
import { addressLimit, ConfigError, ConfigSchema, corsOrigins, introspectionClients, loadConfig, trustProxy, trustProxyRisk, workerCount } from '../../src/service/config.js'

const secret = 'x'.repeat(32)

t.test('JWT_ALGORITHM: the four algorithms, and an unknown one refused naming them', async (t) => {
  for (const algorithm of ['HS256', 'ES256', 'EdDSA', 'RS256']) t.equal(loadConfig({ JWT_ALGORITHM: algorithm }).JWT_ALGORITHM, algorithm)
  t.throws(() => loadConfig({ JWT_ALGORITHM: 'HS512' }), /JWT_ALGORITHM.*one of HS256, ES256, EdDSA, RS256/)
  t.throws(() => loadConfig({ JWT_ALGORITHM: 'none' }), /JWT_ALGORITHM/)
  t.equal(loadConfig({ JWT_KEY_ROTATION_DAYS: '30' }).JWT_KEY_ROTATION_DAYS, 30)
  t.throws(() => loadConfig({ JWT_KEY_ROTATION_DAYS: '0' }), /JWT_KEY_ROTATION_DAYS/)
})

t.test('defaults', async (t) => {
  t.same(loadConfig({}), {
    HOST: '127.0.0.1',
    PORT: 8000,
    DATABASE_URL: 'sqlite:./data/app.db',
    DATABASE_POOL_SIZE: 10,
    DATABASE_TIMEOUT_MS: 5000,
    DATABASE_CONNECT_TIMEOUT_SECONDS: 30,
    ALLOW_EMPTY_DATABASE: false,
    WORKERS: '1',
    JWT_ALGORITHM: 'HS256',
    JWKS_CACHE_SECONDS: 300,
    CLIENT_ID: 'fastify-token-auth',
    ACCESS_TOKEN_EXPIRE_MINUTES: 30,
    REFRESH_TOKEN_EXPIRE_DAYS: 14,
    SESSION_MAX_DAYS: 90,
    REFRESH_TOKEN_REUSE_SECONDS: 10,
    MAX_SESSIONS_PER_USER: 100,
    BCRYPT_COST: 12,
    REGISTRATION: 'open',
    PASSWORD_RESET_MINUTES: 30,
    EMAIL_VERIFICATION_MINUTES: 60,
    REQUIRE_VERIFIED_EMAIL: false,
    PWNED_PASSWORDS_FAIL_CLOSED: false,
    LOG_LEVEL: 'info',
    RATE_LIMIT_TOKEN: '60/min',
    RATE_LIMIT_REGISTRATION: '20/h',
    RATE_LIMIT_REVOKE: '60/min',
    RATE_LIMIT_PASSWORD_CHANGE: '20/h',
    RATE_LIMIT_SESSIONS: '60/min',
    RATE_LIMIT_INTROSPECT: '600/min',
    RATE_LIMIT_RECOVERY: '20/h',
    RATE_LIMIT_MFA: '30/h',
    OTP_FAILURES_PER_HOUR: 10,
    LOGIN_BACKOFF_AFTER: 5,
    LOGIN_BACKOFF_MAX_SECONDS: 900,
    LOGIN_FAILURES_PER_HOUR: 100,
    TRUST_PROXY: 'false',
    METRICS: 'off',
    SMTP_TIMEOUT_MS: 10000,
    SMTP_TLS_REJECT_UNAUTHORIZED: true,
    SERVICE_NAME: 'fastify-token-auth'
  })
})

t.test('values are read from the environment and converted', async (t) => {
  const config = loadConfig({
    HOST: '0.0.0.0',
    PORT: '9000',
    DATABASE_URL: 'postgres://app:pw@127.0.0.1:5432/app',
    DATABASE_POOL_SIZE: '4',
    DATABASE_TIMEOUT_MS: '2000',
    DATABASE_CONNECT_TIMEOUT_SECONDS: '0',
    ALLOW_EMPTY_DATABASE: 'true',
    WORKERS: 'auto',
    JWT_SECRET: secret,
    ACCESS_TOKEN_EXPIRE_MINUTES: '15',
    REFRESH_TOKEN_EXPIRE_DAYS: '7',
    SESSION_MAX_DAYS: '30',
    REFRESH_TOKEN_REUSE_SECONDS: '0',
    MAX_SESSIONS_PER_USER: '5',
    BCRYPT_COST: '10',
    REGISTRATION: 'closed',
    PASSWORD_RESET_MINUTES: '15',
    EMAIL_VERIFICATION_MINUTES: '1440',
    REQUIRE_VERIFIED_EMAIL: 'true',
    TOTP_ISSUER: 'Example Notes',
    PWNED_PASSWORDS_URL: 'https://api.pwnedpasswords.com/range',
    PWNED_PASSWORDS_FAIL_CLOSED: 'true',
    LOG_LEVEL: 'warn',
    RATE_LIMIT_TOKEN: '10/15min',
    RATE_LIMIT_REGISTRATION: 'off',
    RATE_LIMIT_REVOKE: '5/s',
    RATE_LIMIT_PASSWORD_CHANGE: '3/h',
    RATE_LIMIT_SESSIONS: '10/min',
    RATE_LIMIT_INTROSPECT: '100/s',
    RATE_LIMIT_RECOVERY: '5/h',
    RATE_LIMIT_MFA: '10/h',
    OTP_FAILURES_PER_HOUR: '5',
    INTROSPECTION_CLIENTS: `orders-api:${'a'.repeat(64)}, billing.v2:${'0'.repeat(64)}`,
    LOGIN_BACKOFF_AFTER: '0',
    LOGIN_BACKOFF_MAX_SECONDS: '60',
    LOGIN_FAILURES_PER_HOUR: '1000',
    REDIS_URL: 'redis://127.0.0.1:6379/2',
    TRUST_PROXY: '10.0.0.0/8, 127.0.0.1',
    METRICS: 'on',
    METRICS_PORT: '9100',
    METRICS_HOST: '10.0.0.5',
    SMTP_URL: 'smtps://mailer:p%40ss@smtp.example.com:465',
    MAIL_FROM: 'Example <no-reply@example.com>',
    SMTP_TIMEOUT_MS: '5000',
    SMTP_TLS_REJECT_UNAUTHORIZED: 'false',
    RESET_URL: 'https://app.example.com/reset?lang=en',
    VERIFY_URL: 'https://app.example.com/verify',
    SERVICE_NAME: 'Example',
    UNRELATED: 'ignored'
  })
  t.same(config, {
    HOST: '0.0.0.0',
    PORT: 9000,
    DATABASE_URL: 'postgres://app:pw@127.0.0.1:5432/app',
    DATABASE_POOL_SIZE: 4,
    DATABASE_TIMEOUT_MS: 2000,
    DATABASE_CONNECT_TIMEOUT_SECONDS: 0,
    ALLOW_EMPTY_DATABASE: true,
    WORKERS: 'auto',
    JWT_SECRET: secret,
    JWT_ALGORITHM: 'HS256',
    JWKS_CACHE_SECONDS: 300,
    CLIENT_ID: 'fastify-token-auth',
    ACCESS_TOKEN_EXPIRE_MINUTES: 15,
    REFRESH_TOKEN_EXPIRE_DAYS: 7,
    SESSION_MAX_DAYS: 30,
    REFRESH_TOKEN_REUSE_SECONDS: 0,
    MAX_SESSIONS_PER_USER: 5,
    BCRYPT_COST: 10,
    REGISTRATION: 'closed',
    PASSWORD_RESET_MINUTES: 15,
    EMAIL_VERIFICATION_MINUTES: 1440,
    REQUIRE_VERIFIED_EMAIL: true,
    TOTP_ISSUER: 'Example Notes',
    PWNED_PASSWORDS_URL: 'https://api.pwnedpasswords.com/range',
    PWNED_PASSWORDS_FAIL_CLOSED: true,
    LOG_LEVEL: 'warn',
    RATE_LIMIT_TOKEN: '10/15min',
    RATE_LIMIT_REGISTRATION: 'off',
    RATE_LIMIT_REVOKE: '5/s',
    RATE_LIMIT_PASSWORD_CHANGE: '3/h',
    RATE_LIMIT_SESSIONS: '10/min',
    RATE_LIMIT_INTROSPECT: '100/s',
    RATE_LIMIT_RECOVERY: '5/h',
    RATE_LIMIT_MFA: '10/h',
    OTP_FAILURES_PER_HOUR: 5,
    INTROSPECTION_CLIENTS: `orders-api:${'a'.repeat(64)}, billing.v2:${'0'.repeat(64)}`,
    LOGIN_BACKOFF_AFTER: 0,
    LOGIN_BACKOFF_MAX_SECONDS: 60,
    LOGIN_FAILURES_PER_HOUR: 1000,
    REDIS_URL: 'redis://127.0.0.1:6379/2',
    TRUST_PROXY: '10.0.0.0/8, 127.0.0.1',
    METRICS: 'on',
    METRICS_PORT: 9100,
    METRICS_HOST: '10.0.0.5',
    SMTP_URL: 'smtps://mailer:p%40ss@smtp.example.com:465',
    MAIL_FROM: 'Example <no-reply@example.com>',
    SMTP_TIMEOUT_MS: 5000,
    SMTP_TLS_REJECT_UNAUTHORIZED: false,
    RESET_URL: 'https://app.example.com/reset?lang=en',
    VERIFY_URL: 'https://app.example.com/verify',
    SERVICE_NAME: 'Example'
  })
})

t.test('INTROSPECTION_CLIENTS: the resourceServers option; a bad or repeated entry is refused without echoing the value', async (t) => {
  t.same(introspectionClients(undefined), {})
  t.same(introspectionClients(`orders-api:${'a'.repeat(64)}, billing.v2:${'0'.repeat(64)}`), { 'orders-api': 'a'.repeat(64), 'billing.v2': '0'.repeat(64) })
  const pasted = 'not-a-hash-but-a-secret-pasted-by-mistake-xxxxxxxxxxxxxxxxxxxxxxx'
  for (const [value, problem] of [
    [`orders-api:${pasted}`, /^ {2}INTROSPECTION_CLIENTS: expected comma-separated id:sha256hex entries/m],
    [`orders-api:${'A'.repeat(64)}`, /INTROSPECTION_CLIENTS: expected comma-separated id:sha256hex/],
    [`a:${'a'.repeat(64)},a:${'b'.repeat(64)}`, /INTROSPECTION_CLIENTS: the id a is given twice/]
  ] as const) {
    const error = t.throws(() => loadConfig({ INTROSPECTION_CLIENTS: value })) as Error
    t.match(error.message, problem, value)
    t.notOk(error.message.includes(pasted), 'the value is not echoed')
  }
})

t.test('RATE_LIMIT_* and TRUST_PROXY as the service applies them', async (t) => {
  t.same(addressLimit('60/min'), { max: 60, windowSeconds: 60 })
  t.same(addressLimit('10/15min'), { max: 10, windowSeconds: 900 })
  t.same(addressLimit('5/s'), { max: 5, windowSeconds: 1 })
  t.same(addressLimit('20/h'), { max: 20, windowSeconds: 3600 })
  t.equal(addressLimit('off'), false)
  t.equal(trustProxy('false'), false)
  t.equal(trustProxy('true'), true)
  t.same(trustProxy('10.0.0.0/8, 127.0.0.1'), ['10.0.0.0/8', '127.0.0.1'])
  const hops = trustProxy('2')
  t.type(hops, 'function', 'a hop count trusts the nearest hops')
  if (typeof hops === 'function') t.same([hops('198.51.100.1', 0), hops('198.51.100.1', 1), hops('198.51.100.1', 2)], [true, true, false])
})

t.test('a TRUST_PROXY that believes whoever connects is a risk only where clients can connect directly', async (t) => {
  const risky = (HOST: string, TRUST_PROXY: string) => trustProxyRisk({ HOST, TRUST_PROXY }) !== undefined
  for (const host of ['0.0.0.0', '::', '192.0.2.10', 'api.example.com', '[2001:db8::1]']) {
    t.ok(risky(host, '1'), `a hop count on ${host}`)
    t.ok(risky(host, 'true'), `true on ${host}`)
    t.notOk(risky(host, '10.0.0.5, 10.0.0.6'), `an address list on ${host}`)
    t.notOk(risky(host, 'false'), `false on ${host}`)
    t.notOk(risky(host, '0'), `no hop on ${host}`)
  }
  for (const host of ['127.0.0.1', '127.0.0.2', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) {
    t.notOk(risky(host, '2'), `a hop count on loopback ${host}`)
  }
  t.match(trustProxyRisk({ HOST: '0.0.0.0', TRUST_PROXY: '2' }), /^TRUST_PROXY=2 believes the nearest 2 hop\(s\) of X-Forwarded-For whoever connects, and HOST=0\.0\.0\.0/)
})

t.test('bad throttling and proxy settings are named, each on its line', async (t) => {
  const error = (() => {
    try {
      loadConfig({ RATE_LIMIT_TOKEN: '60 per minute', RATE_LIMIT_REVOKE: '10/48h', REDIS_URL: 'localhost:6379', TRUST_PROXY: '10.0.0.0/33', LOGIN_BACKOFF_AFTER: '-1' })
    } catch (error) {
      return error
    }
  })()
  t.ok(error instanceof ConfigError)
  t.same((error as ConfigError).problems, [
    'RATE_LIMIT_TOKEN="60 per minute": expected off, or requests per period such as 60/min, 20/h or 10/15min',
    'LOGIN_BACKOFF_AFTER="-1": expected a whole number from 0 to 1000',
    'REDIS_URL="localhost:6379": expected redis://[:PASSWORD@]HOST:PORT[/DB] or rediss://…',
    'RATE_LIMIT_REVOKE="10/48h": the period can be 86400 s at most',
    'TRUST_PROXY="10.0.0.0/33": "10.0.0.0/33" is not an IP address or CIDR'
  ])
})

t.test('an empty variable counts as unset', async (t) => {
  const config = loadConfig({ PORT: '', JWT_SECRET: '' })
  t.equal(config.PORT, 8000)
  t.equal(config.JWT_SECRET, undefined)
})

t.test('every bad setting is reported on its own line, naming the variable', async (t) => {
  const env = {
    PORT: 'eighty',
    BCRYPT_COST: '3',
    ACCESS_TOKEN_EXPIRE_MINUTES: '1.5',
    REGISTRATION: 'maybe',
    LOG_LEVEL: 'loud',
    DATABASE_URL: 'mysql://db',
    JWT_SECRET: 'too-short-secret'
  }
  const error = t.throws(() => loadConfig(env)) as unknown as ConfigError
  t.ok(error instanceof ConfigError)
  t.equal(error.problems.length, Object.keys(env).length, 'one line per variable')
  for (const name of Object.keys(env)) {
    t.equal(error.problems.filter((line) => line.startsWith(name)).length, 1, `${name} named once`)
  }
  t.notMatch(error.message, /too-short-secret/, 'the secret itself is not printed')
  t.match(error.message, /BCRYPT_COST="3": expected a whole number from 4 to 15/)
  t.match(error.message, /REGISTRATION="maybe": expected open or closed/)
  t.match(error.message, /JWT_SECRET: must be at least 32 bytes/)
})

t.test('boundaries', async (t) => {
  t.equal(loadConfig({ BCRYPT_COST: '4' }).BCRYPT_COST, 4)
  t.equal(loadConfig({ BCRYPT_COST: '15' }).BCRYPT_COST, 15)
  t.throws(() => loadConfig({ BCRYPT_COST: '16' }), ConfigError)
  t.equal(loadConfig({ PORT: '0' }).PORT, 0)
  t.throws(() => loadConfig({ PORT: '65536' }), ConfigError)
  t.throws(() => loadConfig({ ACCESS_TOKEN_EXPIRE_MINUTES: '0' }), ConfigError)
  t.throws(() => loadConfig({ JWT_SECRET: 'é'.repeat(15) }), ConfigError, '30 bytes is too short')
  t.equal(loadConfig({ JWT_SECRET: 'é'.repeat(16) }).JWT_SECRET, 'é'.repeat(16), '32 bytes in 16 characters is enough')
})

/** The problem lines loadConfig reports for an environment (none when it accepts it). */
function problemsOf (env: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig(env)
    return []
  } catch (error) {
    if (error instanceof ConfigError) return error.problems
    throw error
  }
}

t.test('settings that only make sense together', async (t) => {
  const pg = 'postgres://app:pw@127.0.0.1:5432/app'
  t.match(problemsOf({ DATABASE_URL: pg }), [/^JWT_SECRET: required with a PostgreSQL DATABASE_URL/],
    'PostgreSQL instances must share a secret, so none is generated')
  t.equal(loadConfig({ DATABASE_URL: pg, JWT_SECRET: secret }).DATABASE_URL, pg)
  t.equal(loadConfig({ DATABASE_URL: pg }, { server: false }).DATABASE_URL, pg, 'the CLI signs no tokens and needs no secret')
  t.equal(loadConfig({ DATABASE_URL: 'postgresql://db/app', JWT_SECRET: secret }).DATABASE_URL, 'postgresql://db/app')
  t.match(problemsOf({ DATABASE_URL: 'sqlite::memory:', WORKERS: '2' }), [/^WORKERS="2": worker processes cannot share an in-memory database/])
  t.equal(loadConfig({ DATABASE_URL: 'sqlite:./x.db', WORKERS: '2' }).WORKERS, '2')
})

t.test('WORKERS', async (t) => {
  t.equal(workerCount(loadConfig({})), 1)
  t.equal(workerCount(loadConfig({ WORKERS: '3' })), 3)
  t.equal(workerCount(loadConfig({ WORKERS: 'auto' })), availableParallelism())
  for (const bad of ['0', '-1', 'many', '1.5', '100']) {
    t.match(problemsOf({ WORKERS: bad }), [/^WORKERS=.*expected auto or a whole number from 1 to 99/], bad)
  }
})

t.test('METRICS, and a port and host of its own', async (t) => {
  t.equal(loadConfig({ METRICS: 'on' }).METRICS, 'on')
  t.match(problemsOf({ METRICS: 'yes' }), [/^METRICS="yes": expected on or off$/])
  t.match(problemsOf({ METRICS_PORT: '9100' }), [/^METRICS_PORT=9100: only with METRICS=on$/], 'a port for metrics that are off is a mistake')
  t.match(problemsOf({ METRICS: 'on', METRICS_PORT: '8000' }), [/^METRICS_PORT=8000: must differ from PORT$/])
  t.match(problemsOf({ METRICS: 'on', PORT: '9000', METRICS_PORT: '9000' }), [/^METRICS_PORT=9000: must differ from PORT$/])
  for (const bad of ['0', '65536', 'http']) {
    t.match(problemsOf({ METRICS: 'on', METRICS_PORT: bad }), [/^METRICS_PORT=.*expected a whole number from 1 to 65535$/], bad)
  }
  t.match(problemsOf({ METRICS: 'on', METRICS_HOST: '127.0.0.1' }), [/^METRICS_HOST="127.0.0.1": only with METRICS_PORT/])
})

t.test('ALLOW_EMPTY_DATABASE is true or false', async (t) => {
  t.equal(loadConfig({ ALLOW_EMPTY_DATABASE: 'false' }).ALLOW_EMPTY_DATABASE, false)
  t.equal(loadConfig({ ALLOW_EMPTY_DATABASE: 'true' }).ALLOW_EMPTY_DATABASE, true)
  t.match(problemsOf({ ALLOW_EMPTY_DATABASE: 'yes' }), [/^ALLOW_EMPTY_DATABASE="yes": expected true or false$/])
})

t.test('a bad DATABASE_URL is echoed without its password', async (t) => {
  const [line] = problemsOf({ DATABASE_URL: 'mysql://app:hunter2@db:3306/app' })
  t.match(line, /^DATABASE_URL="mysql:\/\/app:\*\*\*@db:3306\/app": expected/)
  t.notMatch(line, /hunter2/)
})

t.test('session settings: each in its range, and the absolute limit no shorter than the idle one', async (t) => {
  for (const [key, value, rule] of [
    ['REFRESH_TOKEN_EXPIRE_DAYS', '0', /REFRESH_TOKEN_EXPIRE_DAYS="0": expected a whole number from 1 to 365/],
    ['SESSION_MAX_DAYS', '4000', /SESSION_MAX_DAYS="4000": expected a whole number from 1 to 3650/],
    ['REFRESH_TOKEN_REUSE_SECONDS', '2.5', /REFRESH_TOKEN_REUSE_SECONDS="2.5": expected a whole number/],
    ['REFRESH_TOKEN_REUSE_SECONDS', '301', /expected a whole number from 0 to 300/]
  ] as const) {
    t.throws(() => loadConfig({ [key]: value }), { name: 'ConfigError', message: rule }, `${key}=${value}`)
  }
  t.throws(() => loadConfig({ REFRESH_TOKEN_EXPIRE_DAYS: '30', SESSION_MAX_DAYS: '7' }),
    { message: /SESSION_MAX_DAYS=7: must be at least REFRESH_TOKEN_EXPIRE_DAYS \(30\)/ })
  t.equal(loadConfig({ REFRESH_TOKEN_EXPIRE_DAYS: '30', SESSION_MAX_DAYS: '30' }).SESSION_MAX_DAYS, 30, 'equal limits are fine')
})

t.test('CORS_ORIGINS: exact origins, comma-separated; unset is none', async (t) => {
  t.equal(loadConfig({}).CORS_ORIGINS, undefined)
  t.same(corsOrigins(loadConfig({}).CORS_ORIGINS), [], 'unset: no origin at all')
  t.same(corsOrigins(loadConfig({ CORS_ORIGINS: '' }).CORS_ORIGINS), [], 'empty counts as unset')
  const value = 'https://app.example.com, http://127.0.0.1:5173,http://[::1]:8080 , capacitor://localhost'
  t.same(corsOrigins(loadConfig({ CORS_ORIGINS: value }).CORS_ORIGINS),
    ['https://app.example.com', 'http://127.0.0.1:5173', 'http://[::1]:8080', 'capacitor://localhost'])
})

t.test('a bad CORS_ORIGINS is named, with what is wrong', async (t) => {
  const bad: Array<[string, RegExp]> = [
    ['*', /"\*" would let every site call the API/],
    ['https://a.example.com,*', /"\*" would let every site call the API/],
    ['https://app.example.com/', /"https:\/\/app.example.com\/" is not an origin: expected scheme:\/\/host\[:port\], with no path/],
    ['https://app.example.com/app', /is not an origin/],
    ['https://app.example.com?x=1', /is not an origin/],
    ['https://user@app.example.com', /is not an origin/],
    ['app.example.com', /is not an origin/],
    ['null', /is not an origin/],
    ['http://app.example.com:65536', /is not an origin/],
    ['http://300.1.1.1', /is not an origin/],
    ['https://a.example.com,,https://b.example.com', /an empty entry/],
    ['https://App.Example.com', /write it as browsers send it, https:\/\/app.example.com$/],
    ['https://app.example.com:443', /write it as browsers send it, https:\/\/app.example.com$/]
  ]
  for (const [value, problem] of bad) {
    const problems = problemsOf({ CORS_ORIGINS: value })
    t.equal(problems.length, 1, `${value}: one problem`)
    t.ok(problems[0]?.startsWith(`CORS_ORIGINS=${JSON.stringify(value)}: `), `${value}: the line names the setting and its value`)
    t.match(problems[0], problem, value)
  }
})

t.test('PUBLIC_URL: an absolute http(s) URL without query or fragment, its trailing slashes dropped', async (t) => {
  t.equal(loadConfig({}).PUBLIC_URL, undefined, 'unset by default')
  const normalised: Array<[string, string]> = [
    ['https://api.example.com', 'https://api.example.com'],
    ['https://api.example.com/', 'https://api.example.com'],
    ['http://127.0.0.1:8000//', 'http://127.0.0.1:8000'],
    ['HTTPS://API.Example.com/auth/', 'https://api.example.com/auth']
  ]
  for (const [value, expected] of normalised) t.equal(loadConfig({ PUBLIC_URL: value }).PUBLIC_URL, expected, value)
  for (const value of ['api.example.com', '/api', 'ftp://api.example.com', 'https://api.example.com/?x=1', 'https://api.example.com/#top', 'https://api.example.com/?', 'https:api.example.com']) {
    const error = t.throws(() => loadConfig({ PUBLIC_URL: value }), value) as unknown as ConfigError
    t.same(error.problems, [`PUBLIC_URL=${JSON.stringify(value)}: must be an absolute http:// or https:// URL without a query or fragment, such as https://api.example.com`], value)
  }
  const error = t.throws(() => loadConfig({ PUBLIC_URL: 'https://admin:hunter2@api.example.com' })) as unknown as ConfigError
  t.same(error.problems, ['PUBLIC_URL="https://admin:***@api.example.com": must not hold a user name or password'], 'refused, its password not echoed')
})

/** The plugin option's schema at a path such as `throttle.token` (through the object choice of a union). */
function optionSchema (path: string): TSchema | undefined {
  let schema: TSchema | undefined = TokenAuthOptionsSchema
  for (const key of path.split('.')) {
    const object: TSchema | undefined = schema?.anyOf === undefined ? schema : (schema.anyOf as TSchema[]).find((inner) => inner.type === 'object')
    schema = (object?.properties as Record<string, TSchema> | undefined)?.[key]
  }
  return schema
}

t.test('a setting for a plugin option takes its range, default and description from the option', async (t) => {
  const mapped = Object.entries(ConfigSchema.properties as Record<string, TSchema>).filter(([, schema]) => typeof schema.option === 'string')
  t.ok(mapped.length >= 20, `${mapped.length} settings set an option`)
  for (const [key, setting] of mapped) {
    const option = optionSchema(setting.option as string)
    t.ok(option, `${key}: ${setting.option as string} is an option`)
    if (option === undefined) continue
    // REDIS_URL, METRICS and SMTP_URL make the objects their options take: they describe themselves.
    const described = key === 'DATABASE_URL' ? (option.anyOf as TSchema[])[0] as TSchema : option
    if (key !== 'REDIS_URL' && key !== 'METRICS' && key !== 'SMTP_URL') {
      t.ok(typeof setting.description === 'string' && typeof described.description === 'string' && setting.description.includes(described.description.replace(/\.$/, '')),
        `${key}: the option's description`)
    }
    if (setting.type === 'integer') {
      const range = option.type === 'integer' ? option : (option.anyOf as TSchema[]).find((inner) => inner.type === 'integer') as TSchema
      t.equal(setting.maximum, range.maximum, `${key}: the option's maximum`)
      t.equal(setting.minimum, ['LOGIN_BACKOFF_AFTER', 'OTP_FAILURES_PER_HOUR'].includes(key) ? 0 : range.minimum, `${key}: the option's minimum (LOGIN_BACKOFF_AFTER=0 and OTP_FAILURES_PER_HOUR=0 are false)`)
      t.equal(setting.default, option.default, `${key}: the option's default`)
    }
    if (key.startsWith('RATE_LIMIT_')) t.same(addressLimit(setting.default as string), option.default, `${key}: the option's default`)
  }
  t.equal(loadConfig({}).REGISTRATION, optionSchema('registration')?.default)
})

t.test('a bad setting for a plugin option: one line, naming it, its value and the rule of the option', async (t) => {
  t.same(problemsOf({ DATABASE_POOL_SIZE: '101' }), ['DATABASE_POOL_SIZE="101": expected a whole number from 1 to 100'])
  t.same(problemsOf({ DATABASE_TIMEOUT_MS: '60001' }), ['DATABASE_TIMEOUT_MS="60001": expected a whole number from 100 to 60000'])
  t.same(problemsOf({ DATABASE_CONNECT_TIMEOUT_SECONDS: '3601' }), ['DATABASE_CONNECT_TIMEOUT_SECONDS="3601": expected a whole number from 0 to 3600'])
  t.same(problemsOf({ LOGIN_FAILURES_PER_HOUR: 'many' }), ['LOGIN_FAILURES_PER_HOUR="many": expected a whole number from 1 to 1000000'])
  t.same(problemsOf({ RATE_LIMIT_TOKEN: '2000000/min' }), ['RATE_LIMIT_TOKEN="2000000/min": the count can be 1000000 at most'],
    'a count the plugin would refuse is refused here, not at start')
  t.same(problemsOf({ RATE_LIMIT_TOKEN: '1000000/24h' }), [], 'the largest count and period pass')
  t.same(problemsOf({ RATE_LIMIT_TOKEN: '5/86401s' }), ['RATE_LIMIT_TOKEN="5/86401s": the period can be 86400 s at most'])
})
