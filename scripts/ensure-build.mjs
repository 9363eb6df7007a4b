// Runs before `npm start` and `npm run cli`: builds once when there is no build (a fresh clone),
// or when the sources changed since and TypeScript is installed. A production tree
// (`npm ci --omit=dev` after a build) runs what was built, without any TypeScript tooling.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const built = join(root, 'dist', 'server.mjs')

function newestSource (dir) {
  let newest = 0
  if (!existsSync(dir)) return newest
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : entry.name.endsWith('.ts') ? statSync(path).mtimeMs : 0)
  }
  return newest
}

const canBuild = existsSync(join(root, 'node_modules', 'typescript'))
const stale = existsSync(built) &&
  Math.max(...['src', 'plugins', 'routes'].map((dir) => newestSource(join(root, dir)))) > statSync(built).mtimeMs
if (!existsSync(built) || (stale && canBuild)) {
  if (!canBuild) {
    process.stderr.write('There is no build (dist/) and no TypeScript to make one: run `npm ci` then `npm run build`, or install a built package.\n')
    process.exit(1)
  }
  process.stderr.write('Building (npm run build)…\n')
  // The build's output goes to stderr, so that a command's own standard output stays clean.
  const result = spawnSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: ['ignore', 2, 2] })
  process.exit(result.status ?? 1)
}
