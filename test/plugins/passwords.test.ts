import t from 'tap'
import { bcryptCost, createPasswordHasher, passwordLengthProblem } from '../../src/accounts/passwords.js'

t.test('hash and verify', async (t) => {
  const hasher = await createPasswordHasher(4)
  const hashed = await hasher.hash('correct horse battery staple')
  t.match(hashed, /^\$2[aby]\$04\$/, 'a bcrypt hash at the configured cost')
  t.not(hashed, await hasher.hash('correct horse battery staple'), 'salted: two hashes of one password differ')
  t.equal(await hasher.verify('correct horse battery staple', hashed), true)
  t.equal(await hasher.verify('correct horse battery stable', hashed), false)
})

t.test('no stored hash (no such user) never verifies', async (t) => {
  const hasher = await createPasswordHasher(4)
  t.equal(await hasher.verify('anything', undefined), false)
  t.equal(await hasher.verify('', undefined), false)
})

t.test('a password over 72 bytes never verifies, although bcrypt alone would accept it', async (t) => {
  const hasher = await createPasswordHasher(4)
  const stored = 'p'.repeat(72)
  const hashed = await hasher.hash(stored)
  t.equal(await hasher.verify(stored, hashed), true)
  t.equal(await hasher.verify(`${stored}-and-more`, hashed), false)
})

t.test('the length rule for new passwords is in UTF-8 bytes', async (t) => {
  t.match(passwordLengthProblem('1234567'), /at least 8 bytes/)
  t.equal(passwordLengthProblem('12345678'), undefined)
  t.equal(passwordLengthProblem('🔑🔑'), undefined, 'two 4-byte characters are 8 bytes')
  t.match(passwordLengthProblem('🔑'), /at least 8 bytes/)
  t.equal(passwordLengthProblem('x'.repeat(72)), undefined)
  t.match(passwordLengthProblem('x'.repeat(73)), /at most 72 bytes.*73/)
  t.match(passwordLengthProblem('é'.repeat(37)), /at most 72 bytes.*74/)
})

t.test('a hash made at another cost needs rehashing; one at the configured cost does not', async (t) => {
  const hasher = await createPasswordHasher(5)
  t.equal(hasher.needsRehash(await hasher.hash('some-password')), false)
  t.equal(hasher.needsRehash(await (await createPasswordHasher(4)).hash('some-password')), true)
  t.equal(bcryptCost('$2b$12$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234'), 12)
  t.equal(bcryptCost('not a hash'), undefined)
})

t.test('bcrypt operations in flight are counted from their start to their end, match or not', async (t) => {
  const hasher = await createPasswordHasher(4)
  const hashed = await hasher.hash('some-password')
  t.same(hasher.inFlight(), { hash: 0, verify: 0 })
  // bcrypt answers on a later turn of the event loop: until then, each call is in flight.
  const calls = [hasher.verify('some-password', hashed), hasher.verify('wrong-password', hashed), hasher.verify('anything', undefined), hasher.hash('another-password')]
  t.same(hasher.inFlight(), { hash: 1, verify: 3 })
  await Promise.all(calls)
  t.same(hasher.inFlight(), { hash: 0, verify: 0 })
})
