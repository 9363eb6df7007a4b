import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import t from 'tap'

// Every relative link in the README, the guides in docs/ and bench/README.md names a file that
// exists and, with an #anchor into a Markdown file, one of its headings as GitHub names them.
// Links to other sites are not followed.

const root = resolve(import.meta.dirname, '..')

/** The Markdown files checked, relative to the repository root. */
function documents (): string[] {
  const guides = readdirSync(join(root, 'docs')).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`)
  return ['README.md', 'bench/README.md', ...guides.sort()]
}

/** The text outside fenced code blocks, one entry a line: code shows links, it holds none. */
function proseLines (markdown: string): string[] {
  const lines: string[] = []
  let fence: string | undefined
  for (const line of markdown.split('\n')) {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1]
    if (fence === undefined && marker !== undefined) fence = marker
    else if (fence !== undefined && marker !== undefined && marker.startsWith(fence)) fence = undefined
    else if (fence === undefined) lines.push(line)
  }
  return lines
}

/** GitHub's anchor for a heading: lowercase, punctuation dropped but `-` and `_`, each space a hyphen. */
function slug (heading: string): string {
  return heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]*>/g, '')
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
    .replace(/ /g, '-')
}

/** The anchors a Markdown text offers: its headings' slugs (a repeated one gets -1, -2 …), and HTML ids. */
function anchors (markdown: string): Set<string> {
  const found = new Set<string>()
  const seen = new Map<string, number>()
  for (const line of proseLines(markdown)) {
    const heading = /^ {0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/.exec(line)?.[1]
    if (heading !== undefined) {
      const base = slug(heading)
      const count = seen.get(base) ?? 0
      seen.set(base, count + 1)
      found.add(count === 0 ? base : `${base}-${count}`)
    }
    for (const match of line.matchAll(/<a\s[^>]*(?:id|name)="([^"]+)"/g)) found.add(match[1] as string)
  }
  return found
}

/** The link targets of a Markdown text: inline links and images, and reference definitions. */
function linkTargets (markdown: string): string[] {
  const text = proseLines(markdown).join('\n')
    .replace(/<!--[\s\S]*?-->/g, '')
    .replace(/(`+)[\s\S]*?\1/g, 'code')
  const inline = [...text.matchAll(/!?\[(?:[^[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)/g)]
  const definitions = [...text.matchAll(/^ {0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?/gm)]
  return [...inline, ...definitions].map((match) => match[1] as string)
}

/**
 * The broken links of the Markdown text `markdown`, read as the file `file` (relative to the
 * repository root): a missing file, or an anchor no heading of its target has.
 */
function brokenLinks (file: string, markdown: string): string[] {
  const broken: string[] = []
  for (const target of linkTargets(markdown)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//')) continue
    const hash = target.indexOf('#')
    const path = decodeURIComponent(hash === -1 ? target : target.slice(0, hash))
    const anchor = hash === -1 ? undefined : decodeURIComponent(target.slice(hash + 1))
    const resolved = path === '' ? join(root, file) : resolve(dirname(join(root, file)), path)
    const name = relative(root, resolved)
    if (path !== '' && !existsSync(resolved)) {
      broken.push(`${file}: ${target} (no file ${name})`)
      continue
    }
    if (anchor === undefined || !resolved.endsWith('.md') || statSync(resolved).isDirectory()) continue
    const headings = anchors(path === '' ? markdown : readFileSync(resolved, 'utf8'))
    if (!headings.has(anchor)) broken.push(`${file}: ${target} (no heading #${anchor} in ${name})`)
  }
  return broken
}

t.test('every relative link and anchor in the README and docs/ resolves', async (t) => {
  const files = documents()
  t.ok(files.length >= 10, `${files.length} files: ${files.join(', ')}`)
  let links = 0
  let anchored = 0
  const broken: string[] = []
  for (const file of files) {
    const markdown = readFileSync(join(root, file), 'utf8')
    const relativeLinks = linkTargets(markdown).filter((target) => !/^[a-z][a-z0-9+.-]*:/i.test(target))
    links += relativeLinks.length
    anchored += relativeLinks.filter((target) => target.includes('#')).length
    broken.push(...brokenLinks(file, markdown))
  }
  t.same(broken, [], 'no broken link')
  t.ok(links > 50, `${links} relative links checked`)
  t.ok(anchored > 20, `${anchored} of them with an anchor`)
})

t.test('the README links every guide in docs/', async (t) => {
  const readme = linkTargets(readFileSync(join(root, 'README.md'), 'utf8')).map((target) => target.split('#')[0])
  for (const file of documents().filter((name) => name.startsWith('docs/'))) t.ok(readme.includes(file), `README.md links ${file}`)
})

t.test('the checker itself finds a broken link', async (t) => {
  const sample = [
    '# A sample',
    '## Storage faults (SQLite)',
    'Good: [here](#storage-faults-sqlite), [sessions](docs/sessions.md#sessions), [a folder](examples/host),',
    '[a site](https://example.com/#nowhere) and ![an image](docs/sessions.md).',
    'Broken: [gone](docs/nowhere.md), [no heading](#storage-faults),',
    '[no heading there](docs/sessions.md#no-such-heading).',
    '',
    '[a definition]: docs/also-gone.md',
    '`[in code](docs/not-a-link.md)`',
    '```md',
    '[in a block](docs/not-a-link-either.md)',
    '```'
  ].join('\n')
  t.same(brokenLinks('README.md', sample), [
    'README.md: docs/nowhere.md (no file docs/nowhere.md)',
    'README.md: #storage-faults (no heading #storage-faults in README.md)',
    'README.md: docs/sessions.md#no-such-heading (no heading #no-such-heading in docs/sessions.md)',
    'README.md: docs/also-gone.md (no file docs/also-gone.md)'
  ])
  t.equal(slug('Your own `@fastify/jwt`, decorators and types'), 'your-own-fastifyjwt-decorators-and-types')
  t.equal(slug('Node.js versions and install warnings'), 'nodejs-versions-and-install-warnings')
  t.equal(slug('Behind a proxy: `TRUST_PROXY`'), 'behind-a-proxy-trust_proxy')
  t.same([...anchors('# Notes\n## Notes\n## Notes\n```\n# not a heading\n```\n')], ['notes', 'notes-1', 'notes-2'])
})
