import { createPublicKey } from 'node:crypto'
import type { Kysely, Selectable } from 'kysely'
import { isUniqueViolation } from '../db/errors.js'
import type { AuthDatabase, SigningKeysTable } from '../db/types.js'
import { errors } from '../errors.js'
import { generateSigningKey, KeyUnsealError, openPrivateKey, sealPrivateKey, type AsymmetricAlgorithm, type PublicJwk } from './signing-keys.js'

// The signing keys of an asymmetric algorithm, kept in the database so that every instance signs
// and verifies with the same ones and a rotation needs no restart. Each instance re-reads them
// often enough that a key is known everywhere before any instance signs with it: a new key is
// published a lead time ahead (the JWKS cache lifetime, one re-read, and clock skew), and a
// retired one stays published until the last token it signed has expired.

export interface KeyRingOptions {
  db: Kysely<AuthDatabase>
  algorithm: AsymmetricAlgorithm
  /** Seals and opens the private keys. */
  secret: string
  /** How long verifiers may cache the JWKS, in seconds. */
  jwksCacheSeconds: number
  /** The longest an access token lives, in seconds. */
  tokenLifetimeSeconds: number
  /** Rotate when the signing key is this old; undefined: only on request. */
  rotationDays?: number
  /** Told of each key a scheduled rotation publishes (for the audit trail). */
  onScheduledRotation?: (rotation: Rotation) => void
  /** Where a key that cannot be opened, or a failed re-read, is reported. */
  log: { error: (object: object, message: string) => void }
}

/** The key an access token is signed with now. */
export interface CurrentKey {
  readonly kid: string
  /** PKCS#8 PEM. */
  readonly privateKey: string
}

/** A rotation's new key: published at once, signing from `signsFrom`. */
export interface Rotation {
  kid: string
  signsFrom: string
  /** False when a rotation already waiting was found instead. */
  created: boolean
}

export interface KeyRing {
  current (): CurrentKey
  /** The public key (SPKI PEM) of `kid` among the published keys of this algorithm, else undefined. */
  publicKey (kid: string): string | undefined
  /** The published public keys, for `/.well-known/jwks.json`. */
  jwks (): PublicJwk[]
  /** Publishes a new key that signs after the lead time (unless one is waiting already). */
  rotate (): Promise<Rotation>
  /** Reads the keys again (a timer does it every `refreshMs`). */
  refresh (): Promise<void>
  readonly refreshMs: number
  readonly leadMs: number
  close (): void
}

const DAY_MS = 86_400_000
const MAX_REFRESH_MS = 30_000
const MAX_SKEW_MS = 5000
const iso = (ms: number) => new Date(ms).toISOString()

type KeyRow = Selectable<SigningKeysTable>

/** How often the keys are re-read and how far ahead a new key is published, for a JWKS cache lifetime. */
export function keyTiming (jwksCacheSeconds: number): { refreshMs: number, leadMs: number, skewMs: number } {
  const cacheMs = jwksCacheSeconds * 1000
  const refreshMs = Math.max(250, Math.min(MAX_REFRESH_MS, cacheMs / 2))
  const skewMs = Math.min(MAX_SKEW_MS, cacheMs)
  return { refreshMs, leadMs: cacheMs + refreshMs + skewMs, skewMs }
}

/** Stores a new key of `algorithm` at generation `generation`; false when another instance took that generation first. */
async function insertKey (db: Kysely<AuthDatabase>, algorithm: AsymmetricAlgorithm, secret: string, generation: number, signsFromMs: number): Promise<KeyRow | undefined> {
  const key = generateSigningKey(algorithm)
  const row: KeyRow = {
    kid: key.kid,
    generation,
    algorithm,
    public_jwk: JSON.stringify(key.publicJwk),
    private_key: sealPrivateKey(key.privatePem, secret, key.kid),
    created_at: iso(Date.now()),
    signs_from: iso(signsFromMs)
  }
  try {
    await db.insertInto('signing_keys').values(row).execute()
    return row
  } catch (error) {
    if (isUniqueViolation(error)) return undefined
    throw error
  }
}

/**
 * Every stored key sealed under `oldSecret`, sealed again under `newSecret` in one transaction
 * (after the plugin's secret changed); how many. A KeyUnsealError names the first key that
 * `oldSecret` does not open, and nothing is written.
 */
export async function resealSigningKeys (db: Kysely<AuthDatabase>, oldSecret: string, newSecret: string): Promise<number> {
  return await db.transaction().execute(async (trx) => await resealSigningKeysIn(trx, oldSecret, newSecret))
}

/** As resealSigningKeys, within a transaction of the caller's. */
export async function resealSigningKeysIn (trx: Kysely<AuthDatabase>, oldSecret: string, newSecret: string): Promise<number> {
  const rows = await trx.selectFrom('signing_keys').selectAll().execute()
  for (const row of rows) {
    const pem = openPrivateKey(row.private_key, oldSecret, row.kid).export({ format: 'pem', type: 'pkcs8' }).toString()
    await trx.updateTable('signing_keys').set({ private_key: sealPrivateKey(pem, newSecret, row.kid) }).where('kid', '=', row.kid).execute()
  }
  return rows.length
}

/**
 * The key ring of one instance, its keys read from the database. With none of `algorithm` yet,
 * one is made that signs at once. Refuses to start (KEYS_SEALED) when the key that signs now, or
 * one waiting to, cannot be opened with the secret.
 */
export async function openKeyRing (opts: KeyRingOptions): Promise<KeyRing> {
  const { db, algorithm, secret, log } = opts
  const { refreshMs, leadMs, skewMs } = keyTiming(opts.jwksCacheSeconds)
  const lifetimeMs = opts.tokenLifetimeSeconds * 1000
  const publicKeys = new Map<string, string>()
  const privateKeys = new Map<string, string>()
  const unopened = new Set<string>()
  let published: PublicJwk[] = []
  let signing: CurrentKey | undefined

  const readAll = async () => await db.selectFrom('signing_keys').selectAll().orderBy('generation').execute()

  /** The private key of a row, opened once; undefined (reported once) when the secret does not open it. */
  function opened (row: KeyRow, strict: boolean): string | undefined {
    const cached = privateKeys.get(row.kid)
    if (cached !== undefined) return cached
    try {
      const key = openPrivateKey(row.private_key, secret, row.kid).export({ format: 'pem', type: 'pkcs8' }).toString()
      privateKeys.set(row.kid, key)
      return key
    } catch (error) {
      if (!(error instanceof KeyUnsealError)) throw error
      if (strict) throw errors.KEYS_SEALED.create(row.kid)
      if (!unopened.has(row.kid)) log.error({ kid: row.kid }, `fastify-token-auth: signing key ${row.kid} cannot be opened with this instance's secret: it keeps signing with the previous key`)
      unopened.add(row.kid)
      return undefined
    }
  }

  /** Takes the rows as the state of the ring: what is published, and what signs now. */
  function apply (rows: KeyRow[], strict: boolean): KeyRow[] {
    const now = Date.now()
    // A key is retired when the next generation starts signing, and unpublished once every token it signed has expired.
    const unpublishAt = (index: number) => {
      const next = rows.slice(index + 1).find((row) => Date.parse(row.signs_from) <= now)
      return next === undefined ? Infinity : Date.parse(next.signs_from) + lifetimeMs + skewMs
    }
    const live = rows.filter((row, index) => unpublishAt(index) > now)
    const ours = live.filter((row) => row.algorithm === algorithm)
    published = ours.map((row) => JSON.parse(row.public_jwk) as PublicJwk)
    for (const kid of publicKeys.keys()) if (!published.some((jwk) => jwk.kid === kid)) publicKeys.delete(kid)
    for (const jwk of published) {
      if (!publicKeys.has(jwk.kid)) publicKeys.set(jwk.kid, createPublicKey({ key: { ...jwk } as Record<string, string>, format: 'jwk' }).export({ format: 'pem', type: 'spki' }).toString())
    }
    // A key waiting to sign is opened now, so a secret that cannot open it shows before it is needed.
    for (const row of ours.filter((row) => Date.parse(row.signs_from) > now)) opened(row, strict)
    // The newest that signs already; past one this instance cannot open, the one before it.
    const signers = ours.filter((row) => Date.parse(row.signs_from) <= now).reverse()
    for (const [index, row] of signers.entries()) {
      const key = opened(row, strict && index === 0)
      if (key !== undefined) {
        signing = { kid: row.kid, privateKey: key }
        break
      }
    }
    return rows.filter((row, index) => unpublishAt(index) <= now)
  }

  async function rotate (): Promise<Rotation> {
    const rows = await readAll()
    const waiting = rows.find((row) => row.algorithm === algorithm && Date.parse(row.signs_from) > Date.now())
    if (waiting !== undefined) return { kid: waiting.kid, signsFrom: waiting.signs_from, created: false }
    const generation = (rows.at(-1)?.generation ?? 0) + 1
    const row = await insertKey(db, algorithm, secret, generation, Date.now() + leadMs)
    if (row === undefined) return await rotate()
    await refresh()
    return { kid: row.kid, signsFrom: row.signs_from, created: true }
  }

  async function refresh (strict = false): Promise<void> {
    const gone = apply(await readAll(), strict)
    if (gone.length > 0) await db.deleteFrom('signing_keys').where('kid', 'in', gone.map((row) => row.kid)).execute()
    const rotationDays = opts.rotationDays
    if (rotationDays !== undefined && signing !== undefined) {
      const rows = await readAll()
      const current = rows.find((row) => row.kid === signing?.kid)
      const due = current !== undefined && Date.parse(current.signs_from) + rotationDays * DAY_MS <= Date.now()
      if (due && !rows.some((row) => row.algorithm === algorithm && Date.parse(row.signs_from) > Date.now())) {
        const rotation = await rotate()
        if (rotation.created) opts.onScheduledRotation?.(rotation)
      }
    }
  }

  // The first key of this algorithm signs at once: no verifier can hold an older JWKS with it.
  await refresh(true)
  if (signing === undefined) {
    const rows = await readAll()
    if (!rows.some((row) => row.algorithm === algorithm)) await insertKey(db, algorithm, secret, (rows.at(-1)?.generation ?? 0) + 1, Date.now())
    await refresh(true)
  }
  if (signing === undefined) throw new Error(`fastify-token-auth: no ${algorithm} signing key could be made`)

  let closed = false
  const timer = setInterval(() => {
    refresh().catch((error: unknown) => { if (!closed) log.error({ err: error }, 'fastify-token-auth: the signing keys could not be read again; the ones known go on') })
  }, refreshMs)
  timer.unref()

  return {
    current: () => signing as CurrentKey,
    publicKey: (kid) => publicKeys.get(kid),
    jwks: () => published,
    rotate,
    refresh: async () => { await refresh() },
    refreshMs,
    leadMs,
    close () {
      closed = true
      clearInterval(timer)
    }
  }
}
