import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { build } from 'esbuild'
import { ENTRIES, ENTRIES_DIR, repoRoot } from './entries.js'

/**
 * Bundles the entry points the process tests spawn (see entries.ts) as `npm run bundle` bundles
 * the server, with that script's banner: every package inside but the ones it leaves out (native
 * modules, and packages that read files beside themselves), which load from node_modules.
 */
export async function buildEntries (): Promise<void> {
  const { scripts } = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
  const bundle = scripts.bundle ?? ''
  const external = [...bundle.matchAll(/--external:(\S+)/g)].map((match) => match[1] as string)
  // The require the CommonJS packages inside the bundle call.
  const banner = /--banner:js="([^"]*)"/.exec(bundle)?.[1]
  if (external.length === 0 || banner === undefined) throw new Error('package.json\'s bundle script names no --external package or no --banner:js')
  await rm(ENTRIES_DIR, { recursive: true, force: true })
  await build({
    entryPoints: Object.fromEntries(Object.entries(ENTRIES).map(([name, source]) => [name, join(repoRoot, source)])),
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
