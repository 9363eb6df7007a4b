import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { repoRoot } from '../src/process-helper.js'

// deploy/token-auth.service read as systemd reads the few keys the tests run: ExecStart,
// WorkingDirectory and the Environment= assignments (unquoted, space-separated, as written there).

export const UNIT_PATH = join(repoRoot, 'deploy', 'token-auth.service')
/** Where the unit expects the install and where systemd puts its StateDirectory. */
export const INSTALL_DIR = '/opt/token-auth'
export const STATE_DIR = '/var/lib/token-auth'

export interface ServiceUnit {
  text: string
  execStart: string[]
  workingDirectory: string
  environment: Record<string, string>
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
    workingDirectory: values('WorkingDirectory')[0] ?? '',
    environment
  }
}
