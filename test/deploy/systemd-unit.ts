import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { repoRoot } from '../src/process-helper.js'

// deploy/token-auth.service read as systemd reads the few keys the tests run: ExecStart,
// ExecStartPost, WorkingDirectory and the Environment= assignments (unquoted, space-separated, as
// written there), and single-valued keys by name.

export const UNIT_PATH = join(repoRoot, 'deploy', 'token-auth.service')
/** Where the unit expects the install and where systemd puts its StateDirectory. */
export const INSTALL_DIR = '/opt/token-auth'
export const STATE_DIR = '/var/lib/token-auth'

export interface ServiceUnit {
  text: string
  execStart: string[]
  /** The readiness wait's program and arguments, double-quoted words unquoted. */
  execStartPost: string[]
  workingDirectory: string
  environment: Record<string, string>
  /** The value of a key the unit sets once, or undefined. */
  value: (key: string) => string | undefined
}

/**
 * A command line's words as systemd splits them, for the lines this unit has: words separated by
 * spaces, a double-quoted word taken whole. Throws on what systemd would rewrite or read
 * differently (`$`, `%`, a backslash, a single-quoted word, a line continued).
 */
export function commandWords (line: string): string[] {
  if (/[$%\\]/.test(line)) throw new Error(`a command line with $, % or a backslash, which systemd rewrites: ${line}`)
  const words = [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((match) => match[1] ?? match[2] as string)
  if (words.some((word) => word.startsWith("'") || word.includes('"'))) throw new Error(`quoting this reader does not follow: ${line}`)
  return words
}

export async function readServiceUnit (): Promise<ServiceUnit> {
  const text = await readFile(UNIT_PATH, 'utf8')
  const values = (key: string) => [...text.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((match) => (match[1] as string).trim())
  const environment: Record<string, string> = {}
  for (const line of values('Environment')) {
    for (const assignment of line.split(/\s+/)) {
      const equals = assignment.indexOf('=')
      environment[assignment.slice(0, equals)] = assignment.slice(equals + 1)
    }
  }
  return {
    text,
    execStart: (values('ExecStart')[0] ?? '').split(/\s+/),
    execStartPost: commandWords(values('ExecStartPost')[0] ?? ''),
    workingDirectory: values('WorkingDirectory')[0] ?? '',
    environment,
    value: (key) => {
      const all = values(key)
      if (all.length > 1) throw new Error(`${key}= is set ${all.length} times`)
      return all[0]
    }
  }
}
