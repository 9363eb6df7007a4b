import { readFile } from 'node:fs/promises'
import t from 'tap'
import { CONFIGURATION_DOC, configurationDoc, REGENERATE } from '../scripts/configuration-doc.js'
import { ConfigSchema } from '../src/service/config.js'

// docs/configuration.md is generated from the plugin's options schema and the service's settings.

const generated = configurationDoc()

t.test('the committed docs/configuration.md is what the schemas generate', async (t) => {
  const committed = await readFile(CONFIGURATION_DOC, 'utf8').catch(() => 'missing')
  t.equal(committed, generated, `docs/configuration.md is current (if not: run \`${REGENERATE}\` and commit the result)`)
})

t.test('it lists every option with its type, default and range, and every setting with the option it sets', async (t) => {
  t.match(generated, '| `bcryptCost` | integer | `12` | 4 to 15 | bcrypt cost factor. |')
  t.match(generated, '| `throttle.token` | object \\| false | `{ max: 60, windowSeconds: 60 }` | – |')
  t.match(generated, '| `throttle.token.max` | integer | required | 1 to 1000000 |')
  t.match(generated, '| `secret` | string | required | a string of at least 32 bytes |')
  t.match(generated, '| `DATABASE_POOL_SIZE` | `databaseOptions.poolSize` | `10` | 1 to 100 |')
  t.match(generated, '| `LOG_LEVEL` | – | `info` | one of fatal, error, warn, info, debug, trace, silent |')
  const rows = [...generated.matchAll(/^\| `([A-Z][A-Z0-9_]*)` \|/gm)].map((match) => match[1])
  t.same(rows, Object.keys(ConfigSchema.properties), 'every setting once, in the schema\'s order')
})
