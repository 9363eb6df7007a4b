import { recipientDomain, type MailMessage, type SendMail } from './message.js'

/** Where the queue says what it did: a pino or Fastify logger will do. */
export interface MailLog {
  warn: (fields: object, message: string) => void
  debug: (fields: object, message: string) => void
}

export interface MailQueueOptions {
  send: SendMail
  log: MailLog
  /** Mails held at once, waiting, being sent or waiting for a retry; one more is dropped. Default 100. */
  maxQueued?: number
  /** Tries per mail before it is dropped. Default 3. */
  attempts?: number
  /** The wait before the first retry; each further one waits twice as long. Default 1000. */
  backoffMs?: number
  /** Mails sent at once. Default 2. */
  concurrency?: number
  /** An attempt not settled by then counts as failed (the hook's own timeouts should come first). Default 60000. */
  attemptTimeoutMs?: number
  /** How long `close()` waits for the mails still being sent. Default 5000. */
  closeTimeoutMs?: number
}

export interface MailQueue {
  /** Takes a mail to send in the background and returns at once: false when it was dropped (the queue full or closed). */
  enqueue: (message: MailMessage) => boolean
  /** Mails held: waiting, being sent or waiting for a retry. */
  readonly size: number
  /**
   * Takes no more mail, drops those waiting for a retry, and waits at most `closeTimeoutMs` for
   * the rest; what is still unsent then is dropped. Each dropped mail is logged.
   */
  close: () => Promise<void>
}

interface Job {
  message: MailMessage
  attempts: number
  timer?: NodeJS.Timeout
}

/** Why a delivery failed, without its message (an SMTP reply may quote the recipient). */
function failureSummary (error: unknown): string {
  if (typeof error !== 'object' || error === null) return String(typeof error)
  const { code, responseCode, name } = error as { code?: unknown, responseCode?: unknown, name?: unknown }
  const parts = [typeof code === 'string' ? code : undefined, typeof responseCode === 'number' ? `SMTP ${responseCode}` : undefined]
    .filter((part) => part !== undefined)
  return parts.length > 0 ? parts.join(', ') : typeof name === 'string' ? name : 'Error'
}

class AttemptTimeout extends Error {
  readonly code = 'ATTEMPT_TIMEOUT'
}

/**
 * A bounded queue that sends mail after the answer: `enqueue` never waits for delivery. Mails go
 * out a few at a time, each tried `attempts` times with exponential backoff; one that exceeds the
 * bound or fails every try is dropped with a warning naming its kind and recipient's domain (the
 * link, which holds a token, and the whole address only at debug).
 */
export function createMailQueue (options: MailQueueOptions): MailQueue {
  const { send, log } = options
  const maxQueued = options.maxQueued ?? 100
  const attempts = options.attempts ?? 3
  const backoffMs = options.backoffMs ?? 1000
  const concurrency = options.concurrency ?? 2
  const attemptTimeoutMs = options.attemptTimeoutMs ?? 60_000
  const closeTimeoutMs = options.closeTimeoutMs ?? 5000
  const waiting: Job[] = []
  const retrying = new Set<Job>()
  const sending = new Set<Job>()
  let closed: Promise<void> | undefined
  let drained: (() => void) | undefined
  const size = () => waiting.length + retrying.size + sending.size

  function drop (message: MailMessage, reason: string, error?: unknown): void {
    const fields = { mail: message.kind, domain: recipientDomain(message.to), ...(error !== undefined && { failure: failureSummary(error) }) }
    log.warn(fields, `fastify-token-auth: a ${message.kind} mail to an address at ${fields.domain} was not delivered: ${reason}`)
    log.debug({ mail: message.kind, to: message.to, url: message.url, err: error }, 'fastify-token-auth: the mail not delivered')
  }

  function pump (): void {
    while (sending.size < concurrency && waiting.length > 0) {
      const job = waiting.shift() as Job
      sending.add(job)
      attempt(job).catch(() => {})
    }
    if (size() === 0) drained?.()
  }

  async function attempt (job: Job): Promise<void> {
    job.attempts++
    let failure: unknown
    let timer: NodeJS.Timeout | undefined
    try {
      const timeout = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => { reject(new AttemptTimeout(`no answer in ${attemptTimeoutMs} ms`)) }, attemptTimeoutMs)
        // An attempt abandoned at shutdown must not keep the process alive.
        timer.unref()
      })
      // A copy: a hook that changes the message must not change the next attempt's.
      await Promise.race([send({ ...job.message }), timeout])
    } catch (error) {
      failure = error ?? new Error('rejected')
    } finally {
      clearTimeout(timer)
    }
    // Dropped by close() while it was being sent.
    if (!sending.delete(job)) return
    const { message } = job
    if (failure === undefined) {
      log.debug({ mail: message.kind, domain: recipientDomain(message.to), attempts: job.attempts }, 'fastify-token-auth: mail delivered')
    } else if (job.attempts >= attempts) {
      drop(message, `${attempts} ${attempts === 1 ? 'attempt' : 'attempts'} failed`, failure)
    } else if (closed !== undefined) {
      drop(message, 'shutting down before a retry', failure)
    } else {
      const wait = backoffMs * 2 ** (job.attempts - 1)
      log.debug({ mail: message.kind, domain: recipientDomain(message.to), attempt: job.attempts, failure: failureSummary(failure), retryInMs: wait },
        'fastify-token-auth: mail not sent, trying again')
      retrying.add(job)
      job.timer = setTimeout(() => {
        retrying.delete(job)
        waiting.push(job)
        pump()
      }, wait)
      job.timer.unref()
    }
    pump()
  }

  async function close (): Promise<void> {
    for (const job of retrying) {
      clearTimeout(job.timer)
      drop(job.message, 'shutting down before a retry')
    }
    retrying.clear()
    if (size() > 0) {
      let timer: NodeJS.Timeout | undefined
      await new Promise<void>((resolve) => {
        drained = resolve
        timer = setTimeout(resolve, closeTimeoutMs)
      })
      clearTimeout(timer)
    }
    for (const job of [...waiting, ...sending]) drop(job.message, `still unsent ${closeTimeoutMs} ms into shutdown`)
    waiting.length = 0
    sending.clear()
  }

  return {
    enqueue (message) {
      if (closed !== undefined) {
        drop(message, 'the mail queue is closed')
        return false
      }
      if (size() >= maxQueued) {
        drop(message, `${maxQueued} mails are queued already`)
        return false
      }
      waiting.push({ message: { ...message }, attempts: 0 })
      // After the current request's work: enqueue returns before any sending starts.
      setImmediate(pump)
      return true
    },
    get size () { return size() },
    async close () {
      closed ??= close()
      await closed
    }
  }
}
