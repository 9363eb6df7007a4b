import { chownSync, closeSync, existsSync, openSync, readSync, renameSync, statSync } from 'node:fs'
import { loadSqlite } from '../optional-packages.js'

/**
 * SQLite replays the `-wal` file found beside a database into whatever file is at the path:
 * its header does not name the file it belongs to. A backup restored or copied over the path
 * with the old `-wal` and `-shm` still beside it would take the old file's pages and turn
 * malformed. This module records, in a file beside the database, which file its write-ahead
 * log belongs to, and sets aside (renames, never deletes) a log that belongs to another.
 */

/** The record beside a SQLite database, named after it: which file its `-wal` belongs to. */
export function walOwnerFileFor (databasePath: string): string {
  return `${databasePath}.wal-owner`
}

/** A file as the owner record knows it. Fields that cannot be read are null and not compared. */
interface Identity {
  ino: string
  /** Creation time in ns where the file system keeps one: catches an inode number reused. */
  birthtime: string | null
  /** The header's user_version: a fresh one in every backup the CLI writes. */
  generation: number | null
}

const SQLITE_MAGIC = 'SQLite format 3\0'

/** The database header's user_version (offset 60), read from the main file alone, not through its log; null without a header. */
export function readGeneration (path: string): number | null {
  const header = Buffer.alloc(100)
  const fd = openSync(path, 'r')
  try {
    if (readSync(fd, header, 0, 100, 0) < 100 || header.toString('latin1', 0, 16) !== SQLITE_MAGIC) return null
    return header.readInt32BE(60)
  } finally {
    closeSync(fd)
  }
}

function identityOf (path: string): Identity | undefined {
  let stat
  try {
    stat = statSync(path, { bigint: true })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
  // Without statx, Node reports the change time as the birth time: that one moves with every write.
  const birthtime = stat.birthtimeNs > 0n && stat.birthtimeNs !== stat.ctimeNs ? String(stat.birthtimeNs) : null
  // The device number is left out: it may change with a remount or a reboot, the file does not.
  return { ino: String(stat.ino), birthtime, generation: readGeneration(path) }
}

/** Whether a log recorded for `owner` belongs to the file `current`: every field known on both sides must match. */
function sameFile (owner: Identity, current: Identity): boolean {
  const differs = <T>(a: T | null, b: T | null) => a !== null && b !== null && a !== b
  return owner.ino === current.ino && !differs(owner.birthtime, current.birthtime) && !differs(owner.generation, current.generation)
}

interface OwnerRow { ino: string, birthtime: string | null, generation: number | null }

/**
 * Runs `fn` with the owner record of `path`, inside a write transaction of the record's own
 * small SQLite file: starts of the service, its workers and the CLI take their turns, and a
 * process that dies releases the lock.
 */
function withOwnerRecord<T> (path: string, timeoutMs: number, fn: (owner: Identity | undefined, record: (identity: Identity) => void) => T): T {
  const Database = loadSqlite()
  const file = walOwnerFileFor(path)
  if (!existsSync(file)) {
    closeSync(openSync(file, 'a', 0o600))
    // Run as root (the CLI under sudo), it goes to the database's owner, as SQLite does with -wal and -shm.
    if (process.getuid?.() === 0 && existsSync(path)) {
      const { uid, gid } = statSync(path)
      chownSync(file, uid, gid)
    }
  }
  const sqlite = new Database(file, { timeout: timeoutMs })
  try {
    sqlite.exec(`create table if not exists wal_owner (
      id integer primary key check (id = 1), ino text not null, birthtime text, generation integer, recorded_at text not null)`)
    return sqlite.transaction(() => {
      const row = sqlite.prepare('select ino, birthtime, generation from wal_owner where id = 1').get() as OwnerRow | undefined
      return fn(row, (identity) => {
        sqlite.prepare(`insert into wal_owner (id, ino, birthtime, generation, recorded_at) values (1, ?, ?, ?, ?)
          on conflict (id) do update set ino = excluded.ino, birthtime = excluded.birthtime, generation = excluded.generation,
          recorded_at = excluded.recorded_at`).run(identity.ino, identity.birthtime, identity.generation, new Date().toISOString())
      })
    }).immediate()
  } finally {
    sqlite.close()
  }
}

export type WalCheck =
  | { found: 'none' | 'own' }
  /** The database file is missing: what is left beside it was left alone. */
  | { found: 'no-file' }
  | { found: 'stray', message: string, setAside: string[] }

/**
 * Before anything opens the SQLite database at `path`: when a `-wal` or `-shm` is beside it that
 * was recorded for another file (the one deleted or replaced), both are renamed to
 * `<name>.stray-<time>` and the message says so. A log of this very file (a crash, or another
 * process using it now) stays, to be replayed. With no record (a database from before the record
 * existed) the log is trusted. Then the file is recorded as the owner of the log to come.
 * A missing file is judged only with `missing: 'set-aside'`, when a new database is about to be
 * created there.
 */
export function checkWriteAheadLog (path: string, { timeoutMs, missing = 'keep' }: { timeoutMs: number, missing?: 'keep' | 'set-aside' }): WalCheck {
  const leftovers = () => [`${path}-wal`, `${path}-shm`].filter((file) => existsSync(file))
  if (!existsSync(path) && (missing === 'keep' || leftovers().length === 0)) return { found: 'no-file' }
  return withOwnerRecord(path, timeoutMs, (owner, record) => {
    const current = identityOf(path)
    const found = leftovers()
    const stray = found.length > 0 && (current === undefined || (owner !== undefined && !sameFile(owner, current)))
    if (current !== undefined) record(current)
    if (!stray) return { found: found.length > 0 ? 'own' : 'none' }
    const stamp = new Date().toISOString().replace(/[:.]/g, '-')
    const setAside = found.map((file) => {
      const aside = `${file}.stray-${stamp}`
      renameSync(file, aside)
      return aside
    })
    const what = current === undefined ? 'a database file no longer there' : `another file than the one now at ${path} (replaced or restored)`
    return {
      found: 'stray',
      setAside,
      message: `Set aside ${found.join(' and ')} as ${setAside.join(' and ')}: they were left by ${what}, and replaying ` +
        `them would corrupt the database. Opened ${path} as it is; delete the set-aside files once you no longer need them.`
    }
  })
}

/** After the database at `path` is open: records it as the owner of its log (its header is now on disk). */
export function recordWalOwner (path: string, timeoutMs: number): void {
  withOwnerRecord(path, timeoutMs, (_owner, record) => {
    const current = identityOf(path)
    if (current !== undefined) record(current)
  })
}
