import { statSync } from 'node:fs'
import { DatabaseUnavailableError } from './errors.js'

/** Writes look again at most this often whether the database's path still names its file. */
export const FILE_CHECK_INTERVAL_MS = 1000

export interface FileIdentityEvents {
  /** The path stopped naming the file opened: told once, with what happened and what to do. */
  onLost?: (message: string) => void
  /** The path names the file opened again (moved back). */
  onBack?: () => void
}

export interface FileIdentity {
  /**
   * Throws a DatabaseUnavailableError while the path names another file than the one opened, or
   * none. Looks again when the last look is older than FILE_CHECK_INTERVAL_MS, or with `now`.
   */
  assertUnchanged: (now?: boolean) => void
}

/** Thrown inside a DatabaseUnavailableError: its code is the reason in the log. */
class DatabaseFileError extends Error {
  constructor (message: string, readonly code: 'DATABASE_FILE_DELETED' | 'DATABASE_FILE_REPLACED') {
    super(message)
    this.name = 'DatabaseFileError'
  }
}

type Problem = 'deleted' | 'replaced' | undefined

function lostMessage (path: string, problem: 'deleted' | 'replaced'): string {
  const what = problem === 'deleted'
    ? `The database file ${path} was deleted or moved away while the service was running`
    : `The database file ${path} was replaced while the service was running: the path names another file than the one opened`
  return `${what}. Someone or something outside the service did this. Writes and /health/ready now answer 503, since ` +
    'every write would go into a file nobody can open again. ' +
    (problem === 'deleted'
      ? 'Restore the database from a backup, then restart the service.'
      : 'Restart the service to open the file now at that path.')
}

/**
 * Notes which file a SQLite database path names when it is opened (device and inode), and tells
 * when the path names another or none: an open file deleted or replaced keeps taking writes that
 * are lost with the process.
 */
export function watchFileIdentity (path: string, events: FileIdentityEvents = {}): FileIdentity {
  const opened = statSync(path)
  let problem: Problem
  let checkedAt = performance.now()
  const look = (): Problem => {
    try {
      const now = statSync(path)
      return now.dev === opened.dev && now.ino === opened.ino ? undefined : 'replaced'
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      // Anything else (a permission, an I/O error) says nothing about which file is there.
      return code === 'ENOENT' || code === 'ENOTDIR' ? 'deleted' : problem
    }
  }
  return {
    assertUnchanged (now = false) {
      const at = performance.now()
      if (now || at - checkedAt >= FILE_CHECK_INTERVAL_MS) {
        checkedAt = at
        const seen = look()
        if (seen !== problem) {
          problem = seen
          if (seen === undefined) events.onBack?.()
          else events.onLost?.(lostMessage(path, seen))
        }
      }
      if (problem !== undefined) {
        throw new DatabaseUnavailableError(new DatabaseFileError(`database file ${problem}: ${path}`,
          problem === 'deleted' ? 'DATABASE_FILE_DELETED' : 'DATABASE_FILE_REPLACED'))
      }
    }
  }
}
