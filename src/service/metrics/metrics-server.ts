import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import { tokenAuthErrors } from '../../index.js'
import metricsRoute from '../routes/metrics.js'

export interface MetricsServerOptions {
  host: string
  port: number
  /** The exposition text: this process's registry, or the cluster's. */
  collect: () => Promise<string>
  contentType: string
  log: FastifyBaseLogger
}

/** A listener of its own for METRICS_PORT: GET /metrics, and 404 for anything else. */
export async function listenForMetrics (opts: MetricsServerOptions): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: opts.log.child({ server: 'metrics' }), routerOptions: { ignoreTrailingSlash: true } })
  await app.register(tokenAuthErrors, { notFound: true })
  await app.register(metricsRoute, { collect: opts.collect, contentType: opts.contentType })
  await app.listen({ host: opts.host, port: opts.port })
  return app
}
