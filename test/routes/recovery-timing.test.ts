import t from 'tap'
import { forEachEngine } from '../helper.js'
import { mailedApp, verifiedUser } from './recovery-support.js'

// A password reset answers the same, in the same time, for an address with an account and one
// without: over HTTP on loopback, 50 requests of each, interleaved, the medians differ by no
// more than the spread of either (the answer is sent before anything is looked up).

const TRIES = 50

function quantile (sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number
}

forEachEngine(t, async (t, engine) => {
  t.test(`${TRIES} resets for a known address and ${TRIES} for an unknown one: alike within noise`, async (t) => {
    const mailed = await mailedApp(t, engine)
    await verifiedUser(t, mailed, { username: 'known', password: 'known-long-password', email: 'known@example.org' })
    const base = await mailed.app.listen({ port: 0, host: '127.0.0.1' })
    const times: Record<'known' | 'unknown', number[]> = { known: [], unknown: [] }
    const bodies = new Set<string>()
    const post = async (email: string) => {
      const started = process.hrtime.bigint()
      const res = await fetch(`${base}/password-reset`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email }) })
      const body = await res.text()
      const ms = Number(process.hrtime.bigint() - started) / 1e6
      bodies.add(`${res.status} ${[...res.headers.keys()].sort().join(',')} ${body}`)
      return ms
    }
    // A warm-up of each, then pairs in alternating order.
    await post('known@example.org')
    await post('nobody@example.org')
    for (let i = 0; i < TRIES; i++) {
      const [first, second] = i % 2 === 0 ? ['known', 'unknown'] as const : ['unknown', 'known'] as const
      times[first].push(await post(`${first === 'known' ? 'known' : `nobody-${i}`}@example.org`))
      times[second].push(await post(`${second === 'known' ? 'known' : `nobody-${i}`}@example.org`))
    }
    t.equal(bodies.size, 1, 'one status, one set of headers, one body for all of them')
    const known = [...times.known].sort((a, b) => a - b)
    const unknown = [...times.unknown].sort((a, b) => a - b)
    const spread = Math.max(quantile(known, 0.75) - quantile(known, 0.25), quantile(unknown, 0.75) - quantile(unknown, 0.25))
    const difference = Math.abs(quantile(known, 0.5) - quantile(unknown, 0.5))
    t.comment(`medians ${quantile(known, 0.5).toFixed(2)} ms (known) and ${quantile(unknown, 0.5).toFixed(2)} ms (unknown), interquartile spread up to ${spread.toFixed(2)} ms`)
    t.ok(difference <= spread + 0.5, 'the medians differ by no more than the spread (and half a millisecond)', { difference, spread })
  })
})
