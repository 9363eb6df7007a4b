import type { Kysely } from 'kysely'
import type { AuthDatabase } from '../db/types.js'
import { resealTotpSecretsIn } from '../mfa/mfa-store.js'
import { resealSigningKeysIn } from './key-ring.js'

/** How many secrets `resealSecrets` sealed again. */
export interface Resealed {
  signingKeys: number
  totpSecrets: number
}

/**
 * Every secret the database keeps sealed (the private signing keys, the TOTP secrets) sealed
 * again under `newSecret`, after the plugin's secret changed: all in one transaction, or
 * nothing. A KeyUnsealError names a signing key `oldSecret` does not open; a TOTP_SECRET_SEALED
 * error, the account whose TOTP secret it does not open.
 */
export async function resealSecrets (db: Kysely<AuthDatabase>, oldSecret: string, newSecret: string): Promise<Resealed> {
  return await db.transaction().execute(async (trx) => {
    const signingKeys = await resealSigningKeysIn(trx, oldSecret, newSecret)
    const totpSecrets = await resealTotpSecretsIn(trx, oldSecret, newSecret)
    return { signingKeys, totpSecrets }
  })
}
