import { hash, verify } from '@node-rs/bcrypt'

// Raw bcrypt capacity: verifications per second at a cost, `concurrency` at a time on libuv's
// thread pool (as the service runs them), no HTTP. Prints one JSON line.
const [cost, concurrency, seconds] = process.argv.slice(2).map(Number) as [number, number, number]
const stored = await hash('bench-password', cost)
const deadline = Date.now() + seconds * 1000
let count = 0
const started = Date.now()
await Promise.all(Array.from({ length: concurrency }, async () => {
  while (Date.now() < deadline) {
    await verify('bench-password', stored)
    count++
  }
}))
process.stdout.write(`${JSON.stringify({ verifiesPerSecond: count / ((Date.now() - started) / 1000) })}\n`)
