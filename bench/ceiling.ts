import Fastify from 'fastify'
import { loadConfig } from '../src/service/config.js'
import { serviceFastifyOptions } from '../src/service/fastify-options.js'

// The physical limit for any route here: a bare Fastify app with one JSON route returning a
// constant, built with the same Fastify options and log level as the service.
const config = loadConfig(process.env, { server: false })
const app = Fastify(serviceFastifyOptions(config.LOG_LEVEL))
app.get('/ceiling', async () => ({ username: 'bench', email: null, full_name: null, disabled: false }))
await app.listen({ host: config.HOST, port: config.PORT })
