import t from 'tap'
import { createVerifiedTokenCache, type VerifiedClaims } from '../../../src/tokens/verified-tokens.js'

const now = () => Math.floor(Date.now() / 1000)

/** A verifier over a fixed table of tokens, counting how often it really ran. */
function verifier (table: Record<string, VerifiedClaims | Error>) {
  const calls: string[] = []
  const verify = (token: string) => {
    calls.push(token)
    const entry = table[token]
    if (entry === undefined || entry instanceof Error) throw entry ?? new Error('unknown token')
    return entry
  }
  return { verify, calls }
}

t.test('a verified token is verified once, then answered from memory', async (t) => {
  const { verify, calls } = verifier({ good: { sub: 'alice', exp: now() + 600, iat: now(), sid: 's1', scope: 'me' } })
  const subjectOf = createVerifiedTokenCache(verify)
  t.same(subjectOf('good'), { sub: 'alice', exp: now() + 600, iat: now(), sid: 's1', scope: 'me', scopes: ['me'] }, 'the claims, with the scopes split')
  t.equal(subjectOf('good')?.sub, 'alice')
  t.equal(subjectOf('good')?.sub, 'alice')
  t.same(calls, ['good'])
})

t.test('failures are never remembered', async (t) => {
  const { verify, calls } = verifier({ bad: new Error('bad signature') })
  const subjectOf = createVerifiedTokenCache(verify)
  t.equal(subjectOf('bad'), undefined)
  t.equal(subjectOf('bad'), undefined)
  t.same(calls, ['bad', 'bad'])
})

t.test('claims without a string sub, a numeric exp, a string sid or a string scope are refused', async (t) => {
  const { verify } = verifier({
    nosub: { exp: now() + 600, iat: now(), sid: 's1', scope: 'me' } as unknown as VerifiedClaims,
    noexp: { sub: 'x' } as unknown as VerifiedClaims,
    noscope: { sub: 'x', exp: now() + 600, iat: now(), sid: 's1' } as unknown as VerifiedClaims,
    listscope: { sub: 'x', exp: now() + 600, iat: now(), sid: 's1', scope: ['me'] } as unknown as VerifiedClaims
  })
  const subjectOf = createVerifiedTokenCache(verify)
  for (const token of ['nosub', 'noexp', 'noscope', 'listscope']) t.equal(subjectOf(token), undefined, token)
})

t.test('a remembered token is refused from the second it expires', async (t) => {
  const exp = now() + 1
  const { verify } = verifier({ brief: { sub: 'bob', exp, iat: now(), sid: 's1', scope: 'me' } })
  let clock = Date.now()
  const subjectOf = createVerifiedTokenCache(verify, 10_000, () => clock)
  t.equal(subjectOf('brief')?.sub, 'bob')
  clock = exp * 1000 - 1
  t.equal(subjectOf('brief')?.sub, 'bob', 'remembered until the last millisecond before exp')
  clock = exp * 1000
  t.equal(subjectOf('brief'), undefined)
})

t.test('the memory is bounded: the oldest token is forgotten first', async (t) => {
  const table: Record<string, VerifiedClaims> = {}
  for (const token of ['a', 'b', 'c']) table[token] = { sub: token, exp: now() + 600, iat: now(), sid: 's1', scope: 'me' }
  const { verify, calls } = verifier(table)
  const subjectOf = createVerifiedTokenCache(verify, 2)
  subjectOf('a')
  subjectOf('b')
  subjectOf('c') // evicts a
  subjectOf('b')
  subjectOf('a') // verified again
  t.same(calls, ['a', 'b', 'c', 'a'])
})

t.test('a token issued in the future, or without a numeric iat, is refused', async (t) => {
  const { verify } = verifier({
    ahead: { sub: 'x', exp: now() + 600, iat: now() + 60, sid: 's1', scope: 'me' },
    skewed: { sub: 'x', exp: now() + 600, iat: now() + 2, sid: 's1', scope: 'me' },
    text: { sub: 'x', exp: now() + 600, iat: String(now()), sid: 's1', scope: 'me' } as unknown as VerifiedClaims,
    none: { sub: 'x', exp: now() + 600, sid: 's1', scope: 'me' } as unknown as VerifiedClaims
  })
  const claimsOf = createVerifiedTokenCache(verify)
  t.equal(claimsOf('ahead'), undefined, 'a minute ahead')
  t.equal(claimsOf('skewed')?.sub, 'x', 'two seconds ahead: within the clock skew between instances')
  t.equal(claimsOf('text'), undefined, 'a string iat')
  t.equal(claimsOf('none'), undefined, 'no iat')
})
