import fp from 'fastify-plugin'
import type { MetricsRegistry } from '../../index.js'

export interface RequestMetricsPluginOptions {
  registry: MetricsRegistry
  /** The start of the metric's name. */
  prefix: string
}

/** The label of every request no route matched: one series, whatever the path. */
export const UNMATCHED_ROUTE = '(unmatched)'

// From a cached token check (well under a millisecond) to a bcrypt login at a high cost.
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/**
 * One histogram of every answered request of the context it is registered in, by method, route
 * pattern (never the raw URL, so the series are bounded) and status code; its `_count` is the
 * number of requests. One onResponse hook: the time is the one Fastify logs as `responseTime`.
 */
export default fp<RequestMetricsPluginOptions>(async function requestMetrics (app, opts) {
  const { Histogram } = await import('prom-client')
  const name = `${opts.prefix}http_request_duration_seconds`
  const duration = new Histogram({
    name,
    help: 'Time from a request to its answer, in seconds, by method, route pattern and status code',
    labelNames: ['method', 'route', 'status_code'],
    buckets: BUCKETS,
    registers: [opts.registry]
  })
  app.addHook('onResponse', function observeRequest (request, reply, done) {
    duration.observe({ method: request.method, route: request.routeOptions.url ?? UNMATCHED_ROUTE, status_code: reply.statusCode }, reply.elapsedTime / 1000)
    done()
  })
  app.addHook('onClose', async () => { opts.registry.removeSingleMetric(name) })
}, { name: 'token-auth-service/request-metrics', fastify: '5.x' })
