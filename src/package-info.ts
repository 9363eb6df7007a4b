import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export interface PackageInfo {
  name: string
  version: string
  /** OpenAPI's License Object: the SPDX name and its page. */
  license?: { name: string, url: string }
  /** OpenAPI's Contact Object: the project's home page or repository. */
  contact?: { name: string, url: string }
}

interface PackageJson {
  name: string
  version: string
  license?: string
  homepage?: string
  repository?: string | { url?: string }
}

let cached: PackageInfo | undefined

/**
 * The package's own name, version, licence and home, from its package.json: the nearest one
 * above this file, wherever it runs from (the sources, dist/ or the one-file bundle).
 */
export function packageInfo (): PackageInfo {
  if (cached !== undefined) return cached
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir)
    if (parent === dir) throw new Error('fastify-token-auth: its package.json was not found')
    dir = parent
  }
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackageJson
  const repository = typeof pkg.repository === 'string' ? pkg.repository : pkg.repository?.url
  const home = pkg.homepage ?? repository?.replace(/^git\+/, '').replace(/\.git$/, '')
  cached = {
    name: pkg.name,
    version: pkg.version,
    license: pkg.license === undefined ? undefined : { name: pkg.license, url: `https://spdx.org/licenses/${pkg.license}.html` },
    contact: home === undefined ? undefined : { name: pkg.name, url: home }
  }
  return cached
}
