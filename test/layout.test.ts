import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import t from 'tap'

// The direction of imports, as docs/development.md states it: src/core (the bottom) imports
// nothing of the project above it; plugins/ import src/core; routes/ import plugins/ and
// src/core; only the top-level files of src/ compose everything.

const root = resolve(import.meta.dirname, '..')

function sources (dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => relative(root, join(entry.parentPath, entry.name)))
}

/** The project files a source file imports, relative to the repository root. */
function projectImports (file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8')
  return [...text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+'(\.[^']+)'/gm)]
    .map((match) => relative(root, resolve(dirname(join(root, file)), match[1] as string)))
}

/** Which layer a file belongs to; higher layers may import lower ones only. */
function layer (file: string): number {
  if (file.startsWith('src/core/')) return 0
  if (file.startsWith('plugins/')) return 1
  if (file.startsWith('routes/')) return 2
  if (file.startsWith('src/')) return 3
  return 4
}

const LAYERS = ['src/core', 'plugins', 'routes', 'src (top level)']

t.test('imports point down the stack, never up', async (t) => {
  const files = ['src', 'plugins', 'routes'].flatMap(sources)
  t.ok(files.length > 30, `${files.length} source files`)
  let checked = 0
  const upward: string[] = []
  for (const file of files) {
    for (const target of projectImports(file)) {
      checked++
      const from = layer(file)
      const to = layer(target)
      if (to > from || to === 4) upward.push(`${file} (${LAYERS[from]}) imports ${target} (${LAYERS[to] ?? 'outside the source tree'})`)
    }
  }
  t.same(upward, [], 'no upward import')
  t.ok(checked > 50, `${checked} imports checked`)
})

t.test('the layer check itself sees an upward import', async (t) => {
  t.ok(layer('plugins/guards.ts') > layer('src/core/user-store.ts'))
  t.ok(layer('src/core/x.ts') < layer('routes/token.ts'))
  t.equal(layer('src/token-auth.ts'), 3)
})
