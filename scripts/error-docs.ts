// docs/errors.md's table, rendered from the error table: `npm run docs:errors` rewrites the
// lines between its errors:start and errors:end markers; test/plugins/error-table.test.ts
// fails while they differ.
import { readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { errors, NO_STORE, type ErrorEntry, type ErrorUse } from '../src/index.js'
import { serviceErrors } from '../src/service/errors.js'

export const ERRORS_DOCUMENT = join(resolve(import.meta.dirname, '..'), 'docs', 'errors.md')
export const REGENERATE_ERRORS = 'npm run docs:errors'
const START = '<!-- errors:start -->'
const END = '<!-- errors:end -->'

const cell = (text: string) => text.replace(/\|/g, '\\|')
const code = (text: string) => `\`${text}\``

const detailOf = (entry: ErrorEntry) => entry.pattern === '' ? 'a list of `{"loc", "msg", "type"}`, one per problem' : code(entry.pattern)

const headersOf = (entry: ErrorEntry) => Object.entries(entry.headerPattern).map(([name, value]) => code(`${name}: ${value}`)).join(', ')

const whenOf = (entry: ErrorEntry) => entry.note === undefined ? entry.when : `${entry.when}. ${entry.note}`

function table (entries: readonly ErrorEntry[]): string {
  const thrown = entries.every((entry) => entry.use === 'thrown')
  const columns = thrown ? ['Code', 'Message', 'When'] : ['Code', 'Status', '`detail`', 'Headers', 'OAuth2 `error`', 'When']
  const rows = entries.map((entry) => thrown
    ? [code(entry.code), detailOf(entry), whenOf(entry)]
    : [code(entry.code), String(entry.statusCode), detailOf(entry), headersOf(entry), entry.error === undefined ? '' : code(entry.error), whenOf(entry)])
  return [columns, columns.map(() => '---'), ...rows].map((cells) => `| ${cells.map(cell).join(' | ')} |`).join('\n')
}

const SECTIONS: Array<{ use: ErrorUse, title: string }> = [
  { use: 'answer', title: 'Answered by the plugin\'s routes and guards (on a host\'s routes too):' },
  { use: 'host', title: 'Answered by a host with the package\'s helpers (the standalone service answers them all):' },
  { use: 'thrown', title: 'Thrown to a host\'s code, never answered:' }
]

/** The markdown between the markers: the package's table by who gives each error, then the service's own. */
export function renderErrorTable (): string {
  const entries = Object.values<ErrorEntry>(errors)
  const noStore = Object.entries(NO_STORE).map(([name, value]) => code(`${name}: ${value}`)).join(' and ')
  return [
    'At `/token` and `/revoke` an error with an OAuth2 `error` answers `{"detail", "error", "error_description"}` ' +
      '(the description the same as `detail`), any other client error there is `NOT_A_FORM`, and every answer ' +
      `carries ${noStore}. Elsewhere every error answers \`{"detail"}\`. A thrown error's \`code\` is its code below.`,
    ...SECTIONS.flatMap(({ use, title }) => [title, table(entries.filter((entry) => entry.use === use))]),
    'The standalone service\'s own:',
    table(Object.values<ErrorEntry>(serviceErrors))
  ].join('\n\n')
}

/** The document with its block between the markers replaced by `block`; throws when a marker is missing. */
export function withErrorTable (document: string, block = renderErrorTable()): string {
  const start = document.indexOf(START)
  const end = document.indexOf(END)
  if (start === -1 || end < start) throw new Error(`${ERRORS_DOCUMENT} has no ${START} … ${END} block`)
  return `${document.slice(0, start + START.length)}\n${block}\n${document.slice(end)}`
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  writeFileSync(ERRORS_DOCUMENT, withErrorTable(readFileSync(ERRORS_DOCUMENT, 'utf8')))
}
