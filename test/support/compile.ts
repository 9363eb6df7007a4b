import { spawn } from 'node:child_process'
import { join, relative } from 'node:path'
import ts from 'typescript'
import { repoRoot } from './entries.js'

// The one compilation of a test run: tsconfig.json's program (the package, the service, the
// tests and bench) type-checked once and emitted once to dist/. Its dist/src, dist/plugins and
// dist/routes are what `npm run build` makes (tsconfig.build.json extends tsconfig.json and only
// narrows its files); the bundle is then made from them by package.json's own bundle script.

export interface CompileResult {
  /** The diagnostics in the package's and the service's sources (src/, plugins/, routes/). */
  buildErrors: string
  /** The diagnostics in the tests and bench, which `npm run build` does not compile. */
  testErrors: string
  /** `npm run bundle`'s exit code (null when it did not run) and what it printed. */
  bundle: { code: number | null, output: string }
}

const BUILD_FOLDERS = ['src/', 'plugins/', 'routes/']

const host: ts.FormatDiagnosticsHost = {
  getCanonicalFileName: (name) => name,
  getCurrentDirectory: () => repoRoot,
  getNewLine: () => '\n'
}

/** Compiles tsconfig.json's program to dist/, then bundles the server when the build part is clean. */
export async function compile (): Promise<CompileResult> {
  const configPath = join(repoRoot, 'tsconfig.json')
  const config = ts.getParsedCommandLineOfConfigFile(configPath, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => { throw new Error(ts.formatDiagnostic(d, host)) } })
  if (config === undefined) throw new Error('tsconfig.json could not be read')
  const program = ts.createProgram({ rootNames: config.fileNames, options: config.options, projectReferences: config.projectReferences })
  const inBuild = (fileName: string) => BUILD_FOLDERS.some((folder) => relative(repoRoot, fileName).startsWith(folder))
  // Only the build's files are written: the tests and bench run from their sources.
  const emitted = program.getSourceFiles().filter((file) => !file.isDeclarationFile && inBuild(file.fileName))
    .flatMap((file) => program.emit(file).diagnostics)
  const diagnostics = ts.sortAndDeduplicateDiagnostics([...ts.getPreEmitDiagnostics(program), ...emitted, ...config.errors])
  const isBuildError = (d: ts.Diagnostic) => d.file === undefined || inBuild(d.file.fileName)
  const buildErrors = ts.formatDiagnostics(diagnostics.filter(isBuildError), host)
  const testErrors = ts.formatDiagnostics(diagnostics.filter((d) => !isBuildError(d)), host)
  const bundle = buildErrors === '' ? await npmRun('bundle') : { code: null, output: 'not bundled: the build has errors' }
  return { buildErrors, testErrors, bundle }
}

async function npmRun (script: string): Promise<{ code: number | null, output: string }> {
  const child = spawn('npm', ['run', '--silent', script], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  return { code, output }
}
