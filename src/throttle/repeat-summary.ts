/** Counts what repeats within an interval, so a flood writes two lines per key and interval, not one per event. */
export interface RepeatSummary<C> {
  /** True for the first occurrence of `key` in the interval (write it in full); later ones are only counted. */
  first (key: string, context: C): boolean
  /** Whether `key` occurred in this interval. */
  has (key: string): boolean
  /** Writes the summaries of the repeats counted so far and starts a new interval for every key. */
  flush (): void
}

export interface RepeatSummaryOptions<C> {
  intervalMs: number
  /** The most keys remembered; one more flushes early. */
  maxKeys: number
  /** Writes one line for a key that repeated: the context of its first occurrence, how many more came, over how long. */
  summarize (context: C, repeats: number, overMs: number): void
}

/** A RepeatSummary whose timer runs only while it remembers something. */
export function repeatSummary<C> (opts: RepeatSummaryOptions<C>): RepeatSummary<C> {
  const open = new Map<string, { context: C, repeats: number, since: number }>()
  let timer: NodeJS.Timeout | undefined

  function flush (): void {
    const now = Date.now()
    const ended = [...open.values()]
    open.clear()
    if (timer !== undefined) clearInterval(timer)
    timer = undefined
    for (const entry of ended) if (entry.repeats > 0) opts.summarize(entry.context, entry.repeats, now - entry.since)
  }

  return {
    first (key, context) {
      const entry = open.get(key)
      if (entry !== undefined) {
        entry.repeats++
        return false
      }
      if (open.size >= opts.maxKeys) flush()
      open.set(key, { context, repeats: 0, since: Date.now() })
      timer ??= setInterval(flush, opts.intervalMs).unref()
      return true
    },
    has: (key) => open.has(key),
    flush
  }
}
