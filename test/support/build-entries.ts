import { rm } from 'node:fs/promises'
import { build } from 'esbuild'
import { ENTRIES, ENTRIES_DIR } from './entries.js'

/** Bundles the entry points the process tests spawn (see entries.ts). */
export async function buildEntries (): Promise<void> {
  await rm(ENTRIES_DIR, { recursive: true, force: true })
  await build({
    entryPoints: Object.fromEntries(Object.entries(ENTRIES).map(([name, source]) => [name, source])),
    outdir: ENTRIES_DIR,
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'warning'
  })
}
