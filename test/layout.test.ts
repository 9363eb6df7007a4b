import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import t from 'tap'

// Two products share the tree. The package: src/ outside src/service/, plugins/ and routes/.
// The standalone service: src/service/, which uses the package only through its entry
// (src/index.ts), as any host would. Inside the package, imports point down: the concerns of
// src/ (db, schemas, accounts, sessions, tokens, throttle, openapi) import nothing above them,
// plugins/ import src/, routes/ import plugins/ and src/, and only src/token-auth.ts and
// src/index.ts compose everything.

const root = resolve(import.meta.dirname, '..')

function sources (dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => relative(root, join(entry.parentPath, entry.name)))
}

/** The project files a source file imports (statically or dynamically), relative to the repository root. */
function projectImports (file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8')
  return [...text.matchAll(/(?:^\s*(?:import|export)\b[^'"]*?from\s+|\bimport\(\s*)'(\.[^']+)'/gm)]
    .map((match) => relative(root, resolve(dirname(join(root, file)), (match[1] as string).replace(/\.js$/, '.ts'))))
}

const ENTRY = 'src/index.ts'
const isService = (file: string) => file.startsWith('src/service/')

/** Which layer of the package a file belongs to; higher layers may import lower ones only. */
function layer (file: string): number {
  if (isService(file)) return 5
  if (file === ENTRY) return 4
  if (file === 'src/token-auth.ts') return 3
  if (file.startsWith('routes/')) return 2
  if (file.startsWith('plugins/')) return 1
  if (file.startsWith('src/')) return 0
  return 6
}

const LAYERS = ['src (the concerns)', 'plugins', 'routes', 'src/token-auth.ts', 'src/index.ts', 'src/service', 'outside the source tree']
const files = ['src', 'plugins', 'routes'].flatMap(sources)

/** Imports that break a rule of the house, as sentences. */
function violations (edges: Array<[string, string]>): string[] {
  const found: string[] = []
  for (const [file, target] of edges) {
    const from = layer(file)
    const to = layer(target)
    if (to === 6) found.push(`${file} imports ${target}, outside the source tree`)
    else if (isService(file)) {
      if (!isService(target) && target !== ENTRY) found.push(`${file} (the service) imports ${target}: use the package entry, src/index.ts`)
    } else if (to >= from && !(to === from && from <= 2)) found.push(`${file} (${LAYERS[from]}) imports ${target} (${LAYERS[to]})`)
  }
  return found
}

const edges = files.flatMap((file) => projectImports(file).map((target) => [file, target] as [string, string]))

t.test('the package never imports the service, and imports point down', async (t) => {
  t.ok(files.length > 60, `${files.length} source files`)
  t.ok(edges.length > 150, `${edges.length} imports checked`)
  t.same(violations(edges.filter(([file]) => !isService(file))), [], 'no upward import, none into src/service')
})

t.test('the service uses the package through its entry only', async (t) => {
  const service = edges.filter(([file]) => isService(file))
  t.ok(service.some(([, target]) => target === ENTRY), 'the service imports the entry')
  t.same(violations(service), [], 'no service file reaches into the package')
})

t.test("no internal of the package augments Fastify's types: only the public decorators do", async (t) => {
  const augmenting = files.filter((file) => !isService(file) && /declare module 'fastify'/.test(readFileSync(join(root, file), 'utf8')))
  t.same(augmenting, ['src/token-auth.ts'], 'src/token-auth.ts declares the decorators a host gets, and nothing else does')
})

t.test('the guards reach the database only through the session lookup', async (t) => {
  const reaching = edges.filter(([file, target]) => file === 'plugins/guards.ts' && target.startsWith('src/db/'))
  t.ok(edges.some(([file, target]) => file === 'plugins/guards.ts' && target === 'src/sessions/session-lookup.ts'), 'the guards use the lookup')
  t.same(reaching, [], 'no import of src/db/ in the guards')
})

t.test("docs/embedding.md says whose each of the package's dependencies is", async (t) => {
  const { dependencies, peerDependencies } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Record<string, Record<string, string>>
  const guide = readFileSync(join(root, 'docs', 'embedding.md'), 'utf8')
  const table = guide.slice(guide.indexOf('| Dependency | Whose |'))
  t.ok(table.length > 20, 'the table is there')
  const named = new Set([...table.matchAll(/`([^`]+)`/g)].map((match) => match[1]))
  t.same(Object.keys(dependencies ?? {}).filter((name) => !named.has(name)), [], 'every dependency is in the table')
  t.same(Object.keys(peerDependencies ?? {}).filter((name) => !named.has(name)), [], 'and every peer dependency')
})

t.test('the checks see what they must refuse', async (t) => {
  t.same(violations([
    ['src/db/database.ts', 'plugins/storage.ts'],
    ['plugins/guards.ts', 'src/service/app.ts'],
    ['src/service/app.ts', 'src/db/database.ts'],
    ['routes/token.ts', 'src/token-auth.ts'],
    ['src/service/app.ts', 'src/index.ts'],
    ['plugins/guards.ts', 'plugins/errors.ts'],
    ['routes/token.ts', 'plugins/guards.ts']
  ]).length, 4)
})
