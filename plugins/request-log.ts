import { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest } from 'fastify'
import { clientKey } from '../src/throttle/login-throttle.js'
import { repeatSummary } from '../src/throttle/repeat-summary.js'

const THROTTLED_SUMMARY_INTERVAL_MS = 60_000
const THROTTLED_SUMMARY_KEYS = 10_000

/**
 * Fastify's request lines (arrival and completion), but of the 429s a client is answered in a
 * minute only the first, and then one summary line: a flood of refused requests cannot fill the
 * disk. A client answered 429 in the current minute gets no arrival lines either; its requests
 * that pass get a completion line that names the request. For Fastify's `logController` option;
 * call `flush()` when the app closes.
 */
export class ThrottledRequestLog extends LogController {
  private readonly throttled
  /** Requests whose arrival line was left out: their completion line names them. */
  private readonly unannounced = new WeakSet<FastifyRequest>()

  constructor (summaryIntervalMs = THROTTLED_SUMMARY_INTERVAL_MS) {
    super()
    this.throttled = repeatSummary<{ log: FastifyBaseLogger, client: string }>({
      intervalMs: summaryIntervalMs,
      maxKeys: THROTTLED_SUMMARY_KEYS,
      summarize ({ log, client }, repeats, overMs) {
        log.info({ client, res: { statusCode: 429 }, repeats, overMs }, `request throttled: ${repeats} more 429s to this client`)
      }
    })
  }

  /** Writes the summaries of the minute so far (at close). */
  flush (): void {
    this.throttled.flush()
  }

  override incomingRequest (request: FastifyRequest): void {
    if (this.isLogDisabled(request)) return
    if (this.throttled.has(clientKey(request.ip))) this.unannounced.add(request)
    else request.log.info({ req: request }, 'incoming request')
  }

  override requestCompleted (error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (this.isLogDisabled(request)) return
    if (error == null && reply.statusCode === 429 && !this.throttled.first(clientKey(request.ip), { log: request.server.log, client: request.ip })) return
    const req = this.unannounced.has(request) ? { req: request } : {}
    if (error != null) reply.log.error({ ...req, res: reply, err: error, responseTime: reply.elapsedTime }, 'request errored')
    else reply.log.info({ ...req, res: reply, responseTime: reply.elapsedTime }, 'request completed')
  }
}
