import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { build } from 'esbuild'
import type { CompileResult } from './compile.js'
import { ENTRIES, ENTRIES_DIR, repoRoot } from './entries.js'

/**
 * Bundles the entry points the process tests spawn (see entries.ts) from the compilation's
 * dist/ as `npm run bundle` bundles the server, with that script's banner: every package inside
 * but the ones it leaves out (native modules, and packages that read files beside themselves),
 * which load from node_modules. Without a clean build there are none: the tests run the sources.
 */
export async function buildEntries (compiled: CompileResult): Promise<void> {
  const { scripts } = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
  const bundle = scripts.bundle ?? ''
  const external = [...bundle.matchAll(/--external:(\S+)/g)].map((match) => match[1] as string)
  // The require the CommonJS packages inside the bundle call.
  const banner = /--banner:js="([^"]*)"/.exec(bundle)?.[1]
  if (external.length === 0 || banner === undefined) throw new Error('package.json\'s bundle script names no --external package or no --banner:js')
  await rm(ENTRIES_DIR, { recursive: true, force: true })
  if (compiled.buildErrors !== '') return
  await build({
    entryPoints: Object.fromEntries(Object.entries(ENTRIES).map(([name, source]) => [name, join(repoRoot, 'dist', source.replace(/\.ts$/, '.js'))])),
    outdir: ENTRIES_DIR,
    bundle: true,
    external,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    banner: { js: banner },
    logLevel: 'warning'
  })
}
