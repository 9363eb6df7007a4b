import t from 'tap'
import { buildApp, forEachEngine } from '../helper.js'

forEachEngine(t, async (t, engine) => {
  const app = await buildApp(t, {}, engine)

  t.test('/health answers while the process runs, naming its pid', async (t) => {
    for (const url of ['/health', '/health/']) {
      const res = await app.inject({ url })
      t.equal(res.statusCode, 200, url)
      t.same(res.json(), { status: 'ok', pid: process.pid })
    }
  })

  t.test('/health/ready answers while the database takes a write', async (t) => {
    for (const url of ['/health/ready', '/health/ready/']) {
      const res = await app.inject({ url })
      t.equal(res.statusCode, 200, url)
      t.same(res.json(), { status: 'ready' })
    }
    const rows = await app.db.selectFrom('health_probe').select(['id', 'checked_at']).execute()
    t.equal(rows.length, 1, 'the probe upserts one row')
    t.match(rows[0]?.checked_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'stamped with the time of the probe')
  })

  t.test('the probes are in the API docs: public, under the health tag, each answer described', async (t) => {
    const paths = (await app.inject({ url: '/openapi.json' })).json().paths
    t.same(Object.keys(paths).filter((path) => path.startsWith('/health')), ['/health', '/health/ready'], 'without their trailing-slash twins')
    t.match(paths['/health'].get, { operationId: 'checkLiveness', tags: ['health'], security: [], responses: { 200: { description: /process runs/ } } })
    t.match(paths['/health/ready'].get, { operationId: 'checkReadiness', tags: ['health'], security: [], responses: { 200: {}, 503: { description: /database is unavailable/ } } })
  })
})
