import cluster, { type Worker } from 'node:cluster'
import { AggregatorRegistry, Registry } from 'prom-client'

// The cluster's metrics over the workers' IPC channels: the primary asks every worker for its
// registry (as JSON) and sums them with prom-client's aggregation (AggregatorRegistry.aggregate:
// counters and histograms summed, each default metric by its own rule). A worker asks the
// primary when it serves /metrics itself.

const READY = 'token-auth:metrics:ready'
const REQUEST = 'token-auth:metrics:request'
const REPORT = 'token-auth:metrics:report'
const ASK = 'token-auth:metrics:ask'
const ANSWER = 'token-auth:metrics:answer'

type Report = Awaited<ReturnType<Registry['getMetricsAsJSON']>>

interface Message {
  type: string
  id?: number
  metrics?: Report
  text?: string
  error?: string
}

const isMessage = (value: unknown): value is Message =>
  typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string' &&
  (value as { type: string }).type.startsWith('token-auth:metrics:')

const ignore = () => {}

/** What an ended worker still adds to the sums: what only goes up, so no total ever falls. */
const cumulative = (report: Report): Report => report.filter((metric) => ['counter', 'histogram'].includes(String(metric.type)))

export interface ClusterMetrics {
  /** The exposition text of the whole cluster. */
  collect: () => Promise<string>
  readonly contentType: string
}

/**
 * In the primary: the workers' metrics summed, and the answer to a worker that asks for them.
 * A worker is asked once it says it answers; one that does not answer within `timeoutMs`
 * counts with its previous report. A worker that ended keeps its counters and histograms as
 * last reported, so a total never falls when a worker is replaced (Prometheus would read a
 * fall as a reset).
 */
export function aggregateWorkerMetrics ({ timeoutMs = 3000 } = {}): ClusterMetrics {
  const answering = new Set<Worker>()
  const last = new Map<Worker, Report>()
  const retired: Report[] = []
  let compaction = Promise.resolve()
  const pending = new Map<number, (worker: Worker, report: Report | undefined) => void>()
  let nextId = 0

  // Folded into one report, one at a time: later retirements are appended meanwhile.
  const compact = async () => {
    const count = retired.length
    if (count < 2) return
    const merged = await AggregatorRegistry.aggregate(retired.slice(0, count)).getMetricsAsJSON()
    retired.splice(0, count, merged)
  }

  async function gather (): Promise<Report[]> {
    const id = nextId++
    const asked = [...answering].filter((worker) => worker.isConnected())
    const reports = new Map<Worker, Report>()
    await new Promise<void>((resolve) => {
      let answered = 0
      const finish = () => {
        clearTimeout(timer)
        pending.delete(id)
        resolve()
      }
      const timer = setTimeout(finish, timeoutMs)
      pending.set(id, (worker, report) => {
        if (report !== undefined) reports.set(worker, report)
        if (++answered === asked.length) finish()
      })
      for (const worker of asked) worker.send({ type: REQUEST, id }, undefined, ignore)
      if (asked.length === 0) finish()
    })
    for (const [worker, report] of reports) if (answering.has(worker)) last.set(worker, report)
    const current = [...answering].map((worker) => last.get(worker)).filter((report) => report !== undefined)
    return [...retired, ...current]
  }

  const collect = async () => await AggregatorRegistry.aggregate(await gather()).metrics()

  cluster.on('message', (worker, message: unknown) => {
    if (!isMessage(message)) return
    if (message.type === READY) answering.add(worker)
    else if (message.type === REPORT && message.id !== undefined) pending.get(message.id)?.(worker, message.metrics)
    else if (message.type === ASK) {
      const id = message.id
      collect().then(
        (text) => { worker.send({ type: ANSWER, id, text }, undefined, ignore) },
        (error: Error) => { worker.send({ type: ANSWER, id, error: error.message }, undefined, ignore) })
    }
  })
  cluster.on('exit', (worker) => {
    answering.delete(worker)
    const report = last.get(worker)
    last.delete(worker)
    if (report === undefined) return
    retired.push(cumulative(report))
    compaction = compaction.then(compact, ignore)
  })
  return { collect, contentType: Registry.PROMETHEUS_CONTENT_TYPE }
}

/** In a worker: answers the primary's requests for this process's metrics, from now on. */
export function reportToPrimary (registry: Registry): void {
  process.on('message', (message: unknown) => {
    if (!isMessage(message) || message.type !== REQUEST) return
    const id = message.id
    registry.getMetricsAsJSON().then(
      (metrics) => { process.send?.({ type: REPORT, id, metrics }, undefined, undefined, ignore) },
      // No report: the primary counts this worker with its previous one.
      () => { process.send?.({ type: REPORT, id }, undefined, undefined, ignore) })
  })
  process.send?.({ type: READY }, undefined, undefined, ignore)
}

/** In a worker: the cluster's metrics, from the primary; rejects after `timeoutMs`. */
export function askPrimary ({ timeoutMs = 5000 } = {}): () => Promise<string> {
  const waiting = new Map<number, (message: Message) => void>()
  let nextId = 0
  process.on('message', (message: unknown) => {
    if (isMessage(message) && message.type === ANSWER && message.id !== undefined) waiting.get(message.id)?.(message)
  })
  return async () => await new Promise<string>((resolve, reject) => {
    const id = nextId++
    const timer = setTimeout(() => {
      waiting.delete(id)
      reject(new Error('the cluster primary did not answer with the metrics in time'))
    }, timeoutMs)
    waiting.set(id, (message) => {
      clearTimeout(timer)
      waiting.delete(id)
      if (typeof message.text === 'string') resolve(message.text)
      else reject(new Error(`the cluster primary could not collect the metrics: ${message.error ?? 'no reason given'}`))
    })
    process.send?.({ type: ASK, id }, undefined, undefined, (error: Error | null) => {
      if (error === null) return
      clearTimeout(timer)
      waiting.delete(id)
      reject(error)
    })
  })
}
