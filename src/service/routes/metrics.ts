import type { FastifyPluginAsync } from 'fastify'
import { errors } from '../../index.js'

export interface MetricsRouteOptions {
  /** The exposition text: this process's registry, or the cluster's from the primary. */
  collect: () => Promise<string>
  contentType: string
}

/**
 * `GET /metrics` in Prometheus' text format, left out of the API docs. No auth of its own: off
 * unless asked for, and meant for a port of its own or a path the proxy does not forward.
 */
const metricsRoute: FastifyPluginAsync<MetricsRouteOptions> = async function metricsRoute (app, opts) {
  app.get('/metrics', { schema: { hide: true } }, async (request, reply) => {
    let text: string
    try {
      text = await opts.collect()
    } catch (error) {
      request.log.warn({ err: error }, 'metrics could not be collected')
      throw errors.UNAVAILABLE.create()
    }
    return await reply.type(opts.contentType).send(text)
  })
}

export default metricsRoute
