/** Where work after the answer reports its failure: a pino or Fastify logger will do. */
export interface AfterAnswerLog {
  error: (fields: object, message: string) => void
}

/** Work a route starts once its answer is sent, and waits for at close. */
export interface AfterAnswer {
  /** Runs `work` on a later turn of the event loop, after the answer went out; a failure is logged, never thrown. */
  run: (label: string, work: () => Promise<void>) => void
  /** Resolves once every piece of work started so far has settled. */
  idle: () => Promise<void>
}

/**
 * Work that must not shape the answer: a route whose answer must be the same whatever happens
 * next (a password reset for an address nobody has) answers first and does the work after, so
 * neither its time nor its failures show.
 */
export function createAfterAnswer (log: AfterAnswerLog): AfterAnswer {
  const running = new Set<Promise<void>>()
  return {
    run (label, work) {
      const done: Promise<void> = new Promise<void>((resolve) => { setImmediate(resolve) })
        .then(work)
        .catch((error: unknown) => { log.error({ err: error, work: label }, `fastify-token-auth: ${label} failed after the answer`) })
        .finally(() => { running.delete(done) })
      running.add(done)
    },
    async idle () {
      while (running.size > 0) await Promise.all([...running])
    }
  }
}
