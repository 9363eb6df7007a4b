import { execFile, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { copyFile, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { repoRoot } from './entries.js'

// The repository built once per tap run (tap's `before`), as `npm run build` builds it, in a
// copy of the work tree with node_modules symlinked: the bundle, pack and production tests start
// from it instead of each running the build again. No test changes it; copy it first.

const execFileAsync = promisify(execFile)
export const BUILT_TREE = join(repoRoot, '.tap', 'built-tree')
const RESULT = join(repoRoot, '.tap', 'built-tree.json')

export interface TreeBuild {
  /** `npm run --silent build`'s exit code, null when it was killed. */
  code: number | null
  /** What it printed, stdout and stderr. */
  output: string
}

/**
 * The repository's files as `npm pack` in the work tree sees them: tracked ones plus untracked
 * ones git does not ignore (a new source file counts before it is committed), without deleted ones.
 */
export async function copyWorkTree (dest: string): Promise<void> {
  const { stdout } = await execFileAsync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'],
    { cwd: repoRoot, timeout: 30_000, maxBuffer: 16 * 1024 * 1024 })
  const files = [...new Set(stdout.split('\0').filter((file) => file !== ''))]
  for (const file of files) {
    const from = join(repoRoot, file)
    if (!existsSync(from)) continue
    await mkdir(dirname(join(dest, file)), { recursive: true })
    await copyFile(from, join(dest, file))
  }
}

/** Copies the work tree to BUILT_TREE and builds it there; the result is kept beside it for builtTree(). */
export async function buildTree (): Promise<TreeBuild> {
  await rm(BUILT_TREE, { recursive: true, force: true })
  await rm(RESULT, { force: true })
  await copyWorkTree(BUILT_TREE)
  await symlink(join(repoRoot, 'node_modules'), join(BUILT_TREE, 'node_modules'), 'dir')
  const child = spawn('npm', ['run', '--silent', 'build'], { cwd: BUILT_TREE, stdio: 'pipe' })
  let output = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
  const timer = setTimeout(() => child.kill('SIGKILL'), 150_000)
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  clearTimeout(timer)
  const result: TreeBuild = { code, output }
  await writeFile(RESULT, JSON.stringify(result))
  return result
}

/** This tap run's build; a test file run outside the tap runner (whose before made it) builds it first. */
export async function builtTree (): Promise<TreeBuild> {
  if (process.env.TAP_CHILD_ID === undefined || !existsSync(RESULT)) return await buildTree()
  return JSON.parse(await readFile(RESULT, 'utf8')) as TreeBuild
}

/** A copy of the built tree at `dest`, without its node_modules link. */
export async function copyBuiltTree (dest: string): Promise<void> {
  await mkdir(dest, { recursive: true })
  await execFileAsync('cp', ['-a', `${BUILT_TREE}/.`, dest], { timeout: 60_000 })
  await rm(join(dest, 'node_modules'), { force: true })
}
