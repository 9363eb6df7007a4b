import { hash, verify } from '@node-rs/bcrypt'

// Raw bcrypt capacity: verifications per second at a cost, `concurrency` at a time on libuv's
// thread pool (as the service runs them), no HTTP. Counted as the load generator counts requests:
// those completed within the window, so the work in flight at its end is lost on both sides.
// Prints one JSON line.
const [cost, concurrency, seconds] = process.argv.slice(2).map(Number) as [number, number, number]
const stored = await hash('bench-password', cost)
const started = performance.now()
const deadline = started + seconds * 1000
let count = 0
await Promise.all(Array.from({ length: concurrency }, async () => {
  while (performance.now() < deadline) {
    await verify('bench-password', stored)
    if (performance.now() <= deadline) count++
  }
}))
process.stdout.write(`${JSON.stringify({ verifiesPerSecond: count / seconds })}\n`)
