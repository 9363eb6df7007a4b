import cluster from 'node:cluster'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import type { Config } from '../config.js'
import type { ServiceMetricsOptions } from '../app.js'

// Which process records and which serves /metrics. A serving process (the only one, or each
// worker) records into a registry of its own, Node's process metrics included. Alone, it
// serves them on the API's port or on METRICS_PORT. In a cluster the numbers are the
// cluster's: with METRICS_PORT the primary listens there itself, else the worker a scrape
// reaches asks the primary for them. prom-client is loaded only with METRICS on.

export interface ProcessMetrics {
  /** The service's metrics option. */
  readonly service: ServiceMetricsOptions
  /** Opens METRICS_PORT, where this process serves it. */
  listen: (log: FastifyBaseLogger) => Promise<void>
  close: () => Promise<void>
}

/** For a process that serves HTTP; undefined with METRICS off. */
export async function processMetrics (config: Config): Promise<ProcessMetrics | undefined> {
  if (config.METRICS !== 'on') return undefined
  const { collectDefaultMetrics, Registry } = await import('prom-client')
  const { askPrimary, reportToPrimary } = await import('./cluster-metrics.js')
  const { listenForMetrics } = await import('./metrics-server.js')
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const port = config.METRICS_PORT
  if (cluster.isWorker) {
    reportToPrimary(registry)
    return { service: { registry, expose: port === undefined ? askPrimary() : false }, listen: async () => {}, close: async () => {} }
  }
  if (port === undefined) return { service: { registry }, listen: async () => {}, close: async () => {} }
  let server: FastifyInstance | undefined
  return {
    service: { registry, expose: false },
    async listen (log) {
      server = await listenForMetrics({ host: config.METRICS_HOST ?? config.HOST, port, collect: async () => await registry.metrics(), contentType: registry.contentType, log })
    },
    close: async () => { await server?.close() }
  }
}

/** For the cluster primary: sums the workers' metrics, and serves them on METRICS_PORT when there is one. Nothing with METRICS off. */
export async function primaryMetrics (config: Config, log: FastifyBaseLogger): Promise<void> {
  if (config.METRICS !== 'on') return
  const { aggregateWorkerMetrics } = await import('./cluster-metrics.js')
  const { listenForMetrics } = await import('./metrics-server.js')
  const metrics = aggregateWorkerMetrics()
  const port = config.METRICS_PORT
  if (port !== undefined) await listenForMetrics({ host: config.METRICS_HOST ?? config.HOST, port, ...metrics, log })
}
