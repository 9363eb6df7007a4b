import { randomBytes } from 'node:crypto'
import { createAccessTokens, type AccessTokens } from '../plugins/access-tokens.js'
import type { KeyRing } from '../src/tokens/key-ring.js'
import { generateSigningKey, type AsymmetricAlgorithm, type SigningAlgorithm } from '../src/tokens/signing-keys.js'

// The signing cost of an access token alone, per algorithm: the password grant is dominated by
// bcrypt, so this calls the token issuer itself (`createAccessTokens(...).issue`, the code the
// token endpoint runs) in a loop, algorithms alternating in short rounds as the other phases do.
// Options arrive as JSON in argv[2]; the result goes to stdout as one JSON line.

export interface SigningOptions {
  rounds: number
  /** Milliseconds of signing per algorithm per round. */
  sliceMs: number
}

export interface SigningResult {
  /** Access tokens issued per second, median of the rounds, by algorithm. */
  tokensPerSecond: Record<SigningAlgorithm, number>
  /** Each algorithm's rate ÷ HS256's in the same round, median of the rounds. */
  ratioToHs256: Record<SigningAlgorithm, number>
}

const ALGORITHMS: SigningAlgorithm[] = ['HS256', 'ES256', 'EdDSA', 'RS256']
const opts = JSON.parse(process.argv[2] as string) as SigningOptions
const secret = randomBytes(48).toString('base64url')

/** A key ring holding one freshly made key: the issuer only asks it for the current key. */
function ringOf (algorithm: AsymmetricAlgorithm): KeyRing {
  const key = generateSigningKey(algorithm)
  return {
    current: () => ({ kid: key.kid, privateKey: key.privatePem }),
    publicKey: () => undefined,
    jwks: () => [key.publicJwk],
    rotate: async () => { throw new Error('not in the bench') },
    refresh: async () => {},
    refreshMs: 0,
    leadMs: 0,
    close: () => {}
  }
}

const issuers = new Map<SigningAlgorithm, AccessTokens>(ALGORITHMS.map((algorithm) => [algorithm, createAccessTokens({
  secret,
  algorithm,
  keys: algorithm === 'HS256' ? undefined : ringOf(algorithm),
  expireMinutes: 30,
  issuer: 'http://127.0.0.1/auth',
  audience: 'fastify-token-auth',
  clientId: 'fastify-token-auth'
})]))
const session = { id: randomBytes(16).toString('hex'), username: 'bench', expiresAt: new Date(Date.now() + 86_400_000).toISOString(), clientId: null }
const refreshToken = randomBytes(32).toString('base64url')

function rate (tokens: AccessTokens, ms: number): number {
  let issued = 0
  const started = performance.now()
  let elapsed = 0
  while (elapsed < ms) {
    for (let i = 0; i < 20; i++) tokens.issue(session, refreshToken, 'me')
    issued += 20
    elapsed = performance.now() - started
  }
  return issued * 1000 / elapsed
}

const medianOf = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length / 2
  return Number.isInteger(middle) ? ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2 : sorted[Math.floor(middle)] as number
}

// Warm-up: every signer made and compiled before anything is counted.
for (const tokens of issuers.values()) rate(tokens, 200)
const rounds = new Map<SigningAlgorithm, number[]>(ALGORITHMS.map((algorithm) => [algorithm, []]))
for (let round = 0; round < opts.rounds; round++) {
  // In order in even rounds, reversed in odd ones, so that a steady drift favours none.
  const order = round % 2 === 0 ? ALGORITHMS : [...ALGORITHMS].reverse()
  for (const algorithm of order) rounds.get(algorithm)?.push(rate(issuers.get(algorithm) as AccessTokens, opts.sliceMs))
}
const hs = rounds.get('HS256') as number[]
const result: SigningResult = {
  tokensPerSecond: Object.fromEntries(ALGORITHMS.map((algorithm) => [algorithm, medianOf(rounds.get(algorithm) as number[])])) as Record<SigningAlgorithm, number>,
  ratioToHs256: Object.fromEntries(ALGORITHMS.map((algorithm) => [algorithm, medianOf((rounds.get(algorithm) as number[]).map((r, i) => r / (hs[i] as number)))])) as Record<SigningAlgorithm, number>
}
process.stdout.write(`${JSON.stringify(result)}\n`)
