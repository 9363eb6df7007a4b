import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseEnv } from 'node:util'
import t from 'tap'
import { ConfigError, ConfigSchema, likelySetting, loadConfig, loadEnvFile } from '../../src/service/config.js'
import { repoRoot, tempDir } from './process-helper.js'

// .env support (loadEnvFile), and .env.example kept in step with the settings the service reads.

const settings = Object.keys(ConfigSchema.properties).sort()
const example = await readFile(join(repoRoot, '.env.example'), 'utf8')

t.test('an env file adds its settings and never overrides the environment', async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'service.env')
  await writeFile(file, '# a comment\nPORT=9100\nLOG_LEVEL="warn"\nREGISTRATION=closed\nEMPTY=\n')
  const env: NodeJS.ProcessEnv = { ENV_FILE: file, PORT: '9200' }
  t.equal(loadEnvFile(env), file, 'it says which file it read')
  t.equal(env.PORT, '9200', 'the environment wins')
  t.equal(env.LOG_LEVEL, 'warn', 'quotes are removed')
  t.equal(env.REGISTRATION, 'closed')
  const config = loadConfig(env)
  t.equal(config.PORT, 9200)
  t.equal(config.LOG_LEVEL, 'warn')
  t.equal(config.REGISTRATION, 'closed')
})

t.test('keys of the file that look like mistyped settings are told, with the setting each likely means', async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'service.env')
  const typos = { DATABSE_URL: 'DATABASE_URL', WORKER: 'WORKERS', port: 'PORT', JWT_SECRET_KEY: 'JWT_SECRET', ACCESS_TOKEN_EXPIRE: 'ACCESS_TOKEN_EXPIRE_MINUTES', RATE_LIMIT_LOGIN: 'RATE_LIMIT_TOKEN', TRUST_PROXIES: 'TRUST_PROXY' }
  const others = ['NODE_ENV', 'PGPASSWORD', 'HOME', 'COMPOSE_PROJECT_NAME', 'TZ']
  await writeFile(file, [...Object.keys(typos), ...others, 'LOG_LEVEL', 'ENV_FILE'].map((key) => `${key}=x`).join('\n'))
  const told: Record<string, string> = {}
  loadEnvFile({ ENV_FILE: file }, { onUnknown: (key, likely) => { told[key] = likely } })
  t.same(told, typos, 'each mistyped key once, none of the settings, ENV_FILE or the others')
  t.same(settings.filter((key) => likelySetting(key) !== undefined), [], 'no setting is taken for a typo')
})

t.test('which file: .env in the working directory, ENV_FILE, or none', async (t) => {
  const dir = await tempDir(t)
  const cwd = process.cwd()
  t.teardown(() => { process.chdir(cwd) })
  process.chdir(dir)
  t.equal(loadEnvFile({}), undefined, 'no .env: nothing read, no error')
  await writeFile(join(dir, '.env'), 'PORT=9300\n')
  const env: NodeJS.ProcessEnv = {}
  t.equal(loadEnvFile(env), '.env')
  t.equal(env.PORT, '9300')
  const none: NodeJS.ProcessEnv = { ENV_FILE: '' }
  t.equal(loadEnvFile(none), undefined, "ENV_FILE='' reads nothing, though .env exists")
  t.equal(none.PORT, undefined)
})

t.test('an ENV_FILE that cannot be read stops the start with a line naming it', async (t) => {
  const dir = await tempDir(t)
  for (const path of [join(dir, 'missing.env'), dir]) {
    const error = (() => { try { loadEnvFile({ ENV_FILE: path }) } catch (e) { return e } })()
    t.ok(error instanceof ConfigError, path)
    t.match((error as ConfigError).message, `ENV_FILE=${JSON.stringify(path)}: cannot be read (E`)
  }
})

t.test('.env.example lists every setting, with its default', async (t) => {
  const active = parseEnv(example)
  const commented = [...example.matchAll(/^# ([A-Z][A-Z0-9_]*)=(.*)$/gm)].map((match) => match[1] as string)
  t.same([...Object.keys(active), ...commented].sort(), settings, 'each setting once, no other')
  for (const [key, value] of Object.entries(active)) {
    const schema = (ConfigSchema.properties as Record<string, { default?: unknown }>)[key]
    t.equal(value, String(schema?.default), `${key}=${String(value)} is its default`)
  }
  for (const key of commented) {
    t.equal((ConfigSchema.properties as Record<string, { default?: unknown }>)[key]?.default, undefined, `${key}, left commented out, has no default`)
  }
  t.same(loadConfig(parseEnv(example)), loadConfig({}), 'copied as it is to .env, it changes nothing')
})

t.test('the settings table of docs/service.md lists every setting', async (t) => {
  const guide = await readFile(join(repoRoot, 'docs', 'service.md'), 'utf8')
  const start = guide.indexOf('\n### Settings\n')
  t.ok(start >= 0, 'docs/service.md has its Settings section')
  const end = guide.slice(start + 1).search(/\n#{1,3} /)
  const section = end === -1 ? guide.slice(start) : guide.slice(start, start + 1 + end)
  const rows = [...section.matchAll(/^\| `([A-Z][A-Z0-9_]*)` \|/gm)].map((match) => match[1] as string)
  t.same([...new Set(rows)].sort(), settings)
})
