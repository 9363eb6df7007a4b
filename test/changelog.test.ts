import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { repoRoot } from './support/harness.js'

// Releases follow semantic versioning (docs/development.md, Releasing): the version in
// package.json is the newest release in CHANGELOG.md, each release is dated and linked, a
// breaking release moves the version as semver says and tells how to upgrade, and nothing
// user-visible waits unreleased.

const read = (file: string) => readFileSync(join(repoRoot, file), 'utf8')
const changelog = read('CHANGELOG.md')
const pkg = JSON.parse(read('package.json')) as { version: string }
const lock = JSON.parse(read('package-lock.json')) as { version: string, packages: Record<string, { version?: string }> }

interface Release { version: string, date: string, body: string }
type Version = [number, number, number]

const HEADING = /^## \[([^\]]+)\](?: - (.*))?$/gm
const sections = [...changelog.matchAll(HEADING)].map((match, i, all) => ({
  name: match[1] as string,
  date: match[2],
  body: changelog.slice((match.index ?? 0) + match[0].length, all[i + 1]?.index ?? changelog.length).replace(/^\[[^\]]+\]: .*$/gm, '')
}))
const releases: Release[] = sections.filter((section) => section.name !== 'Unreleased').map((section) => ({ version: section.name, date: section.date ?? '', body: section.body }))
const parse = (version: string): Version => version.split('.').map(Number) as Version
const compare = (a: Version, b: Version) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]

t.test('package.json and package-lock.json carry the newest release', async (t) => {
  t.ok(releases.length > 0, 'CHANGELOG.md has releases')
  t.equal(pkg.version, releases[0]?.version, 'package.json')
  t.equal(lock.version, pkg.version, 'package-lock.json')
  t.equal(lock.packages['']?.version, pkg.version, "package-lock.json's root package")
})

t.test('nothing user-visible waits unreleased', async (t) => {
  const unreleased = sections.find((section) => section.name === 'Unreleased')
  t.equal(unreleased?.body.trim() ?? '', '', 'the Unreleased section is empty: a change moves the version')
})

t.test('each release: a semantic version, a real date, a link, newest first', async (t) => {
  const today = new Date().toISOString().slice(0, 10)
  for (const [i, release] of releases.entries()) {
    t.match(release.version, /^\d+\.\d+\.\d+$/, `${release.version}: MAJOR.MINOR.PATCH`)
    t.match(release.date, /^\d{4}-\d{2}-\d{2}$/, `${release.version}: dated`)
    t.equal(new Date(`${release.date}T00:00:00Z`).toISOString().slice(0, 10), release.date, `${release.version}: a date that exists`)
    t.ok(release.date <= today, `${release.version}: not in the future`)
    t.match(changelog, new RegExp(`^\\[${release.version.replaceAll('.', '\\.')}\\]: https://`, 'm'), `${release.version}: linked`)
    const older = releases[i + 1]
    if (older !== undefined) {
      t.ok(compare(parse(release.version), parse(older.version)) > 0, `${release.version} is above ${older.version}`)
      t.ok(release.date >= older.date, `${release.version} is not dated before ${older.version}`)
    }
  }
})

t.test('a breaking release moves the version as semver says and tells how to upgrade', async (t) => {
  for (const [i, release] of releases.entries()) {
    const older = releases[i + 1]
    if (older === undefined || !/^### Changed \(breaking\)$/m.test(release.body)) continue
    const [major, minor] = parse(release.version)
    const [oldMajor, oldMinor] = parse(older.version)
    // Before 1.0.0 the minor number is the breaking one.
    const moved = oldMajor === 0 ? major > 0 || minor > oldMinor : major > oldMajor
    t.ok(moved, `${release.version} after ${older.version}: a breaking release moves the ${oldMajor === 0 ? 'minor' : 'major'} version`)
    t.match(release.body, new RegExp(`^### Upgrading from ${older.version.replaceAll('.', '\\.')}$`, 'm'), `${release.version}: an upgrade section`)
    const breaking = release.body.split(/^### Changed \(breaking\)$/m)[1]?.split(/^### /m)[0] ?? ''
    const upgrading = release.body.split(/^### Upgrading from .*$/m)[1]?.split(/^### /m)[0] ?? ''
    const count = (text: string) => text.split('\n').filter((line) => line.startsWith('- ')).length
    t.ok(count(upgrading) >= count(breaking), `${release.version}: a step for each of its ${count(breaking)} breaking changes`)
  }
})
