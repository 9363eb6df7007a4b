import type { Kysely } from 'kysely'
import { assertDatabaseFileUnchanged } from '../../index.js'

interface HealthProbeDatabase {
  health_probe: { id: number, checked_at: string }
}

/**
 * Resolves when the database takes a write: the one row of `health_probe` is upserted. A full
 * disk, a read-only or failing file system, or a SQLite file deleted or replaced under the
 * process all fail it, where a read would still succeed.
 */
export async function probeWrite (db: Kysely<any>): Promise<void> {
  assertDatabaseFileUnchanged(db)
  await (db as Kysely<HealthProbeDatabase>).insertInto('health_probe')
    .values({ id: 1, checked_at: new Date().toISOString() })
    .onConflict((conflict) => conflict.column('id').doUpdateSet({ checked_at: (eb) => eb.ref('excluded.checked_at') }))
    .execute()
}
