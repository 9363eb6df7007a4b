import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { copyFile, cp, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { compile, type CompileResult } from './compile.js'
import { repoRoot } from './entries.js'

// The repository built once per test run, in a copy of the work tree with node_modules
// symlinked: the bundle, pack and production tests start from it. The build is the run's one
// compilation (compile.ts), whose dist/ output is what `npm run build` makes; the copy gets the
// work tree's files, then that output. No test changes it; copy it first.

const execFileAsync = promisify(execFile)
export const BUILT_TREE = join(repoRoot, '.tap', 'built-tree')
const RESULT = join(repoRoot, '.tap', 'built-tree.json')
/** What `npm run build` writes: tsconfig.build.json's folders and the bundle. */
const BUILD_OUTPUT = ['dist/src', 'dist/plugins', 'dist/routes', 'dist/server.mjs']

export interface TreeBuild {
  /** 0 when the build's part of the compilation had no error and the bundle was made. */
  code: number | null
  /** What the build printed: the compiler's diagnostics in the built sources, then the bundler's output. */
  output: string
}

/** The build's part of a compilation, as `npm run build` would report it. */
export function treeBuild (compiled: CompileResult): TreeBuild {
  return {
    code: compiled.buildErrors === '' ? compiled.bundle.code : 1,
    output: compiled.buildErrors + compiled.bundle.output
  }
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

/** Copies the work tree and the compilation's build output to BUILT_TREE; the result is kept beside it for builtTree(). */
export async function makeBuiltTree (compiled: CompileResult): Promise<TreeBuild> {
  await rm(BUILT_TREE, { recursive: true, force: true })
  await rm(RESULT, { force: true })
  await copyWorkTree(BUILT_TREE)
  await symlink(join(repoRoot, 'node_modules'), join(BUILT_TREE, 'node_modules'), 'dir')
  const result = treeBuild(compiled)
  if (result.code === 0) {
    // Copied after the sources, with fresh times: the build is newer than what it was built from.
    for (const path of BUILD_OUTPUT) await cp(join(repoRoot, path), join(BUILT_TREE, path), { recursive: true })
  }
  await writeFile(RESULT, JSON.stringify(result))
  return result
}

/** This run's build; a test file run alone (outside the runner and tap's `before`) compiles and builds it first. */
export async function builtTree (): Promise<TreeBuild> {
  if (process.env.TAP_CHILD_ID === undefined || !existsSync(RESULT)) return await makeBuiltTree(await compile())
  return JSON.parse(await readFile(RESULT, 'utf8')) as TreeBuild
}

/** A copy of the built tree at `dest`, without its node_modules link. */
export async function copyBuiltTree (dest: string): Promise<void> {
  await mkdir(dest, { recursive: true })
  await execFileAsync('cp', ['-a', `${BUILT_TREE}/.`, dest], { timeout: 60_000 })
  await rm(join(dest, 'node_modules'), { force: true })
}
