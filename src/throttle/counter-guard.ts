/** Thrown for a call the guard did not let through, or stopped waiting for. */
export class CountersUnavailableError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'CountersUnavailableError'
  }
}

export interface CounterGuardOptions {
  /** How long a call may take before it counts as failed. */
  timeoutMs: number
  /** How long calls are skipped after a failure, before one probe is let through. */
  retryMs: number
}

export interface CounterGuard {
  /** Runs `call`, or fails at once while the counters count as unavailable. */
  run: <T>(call: () => Promise<T>) => Promise<T>
  /** A view of `store` whose every method runs through the guard (and so returns a promise). */
  wrap: <S extends object>(store: S) => S
  /** Lets calls through again at once (the store is known to be back, e.g. reconnected). */
  close: () => void
}

/**
 * A bounded wait and a circuit around a remote counter store: after a failure or a timeout,
 * calls fail at once for `retryMs`; then one call at a time probes, and a success closes it.
 */
export function counterGuard (opts: CounterGuardOptions): CounterGuard {
  let openUntil = 0
  let probing = false
  let failing = false

  const run = async <T>(call: () => Promise<T>): Promise<T> => {
    const probe = failing
    if (probe) {
      if (probing || Date.now() < openUntil) throw new CountersUnavailableError('counters unavailable: skipped until a probe succeeds')
      probing = true
    }
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => { reject(new CountersUnavailableError(`counters did not answer within ${opts.timeoutMs} ms`)) }, opts.timeoutMs)
      timer.unref()
    })
    try {
      const result = await Promise.race([call(), timeout])
      failing = false
      return result
    } catch (error) {
      failing = true
      openUntil = Date.now() + opts.retryMs
      throw error
    } finally {
      clearTimeout(timer)
      if (probe) probing = false
    }
  }

  // A proxy, so methods on a prototype are guarded too; each returns a promise.
  const wrap = <S extends object>(store: S): S => new Proxy(store, {
    get (target, property) {
      const value: unknown = Reflect.get(target, property)
      if (typeof value !== 'function') return value
      return async (...args: unknown[]) => await run(async () => await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args))
    }
  })

  return { run, wrap, close: () => { failing = false } }
}
