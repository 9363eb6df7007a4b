import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join, resolve } from 'node:path'
import t from 'tap'
import { DOCS_MAIL, pluginDocument, PUBLIC_URL, serviceDocument, type Json } from './openapi-support.js'

/*
 * The documents through the linters a user would run, with the project's rule sets: Redocly
 * CLI (redocly.yaml: `recommended`) and Spectral (.spectral.yaml: `spectral:oas`). Each CLI runs
 * once, on every document at the same time, the two CLIs side by side: their start-up is most
 * of their time.
 */

const root = resolve(import.meta.dirname, '../..')
const bin = (name: string) => join(root, 'test/tools/node_modules/.bin', name)
// No update check or usage report from a test run.
const env = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' }

/** Runs a CLI to its end: its stdout, whatever its exit code (both linters exit 1 on errors). */
async function run (command: string, args: string[]): Promise<string> {
  return await new Promise((resolve, reject) => {
    execFile(command, args, { cwd: root, env, maxBuffer: 64 * 1024 * 1024, timeout: 90_000 }, (error, stdout, stderr) => {
      if (error !== null && stdout.trim() === '') reject(new Error(`${command} ${args.join(' ')}: ${error.message}\n${stderr}`))
      else resolve(stdout)
    })
  })
}

/** One finding, as `severity rule: message at where`, by the file it is in. */
type Findings = Map<string, string[]>

function byFile (entries: Array<{ file: string, finding: string }>): Findings {
  const findings: Findings = new Map()
  for (const { file, finding } of entries) findings.set(basename(file), [...findings.get(basename(file)) ?? [], finding])
  return findings
}

async function redocly (files: string[]): Promise<Findings> {
  // One report per file, in their order, written one after the other: `{"totals": …}{"totals": …}`.
  const output = await run(bin('redocly'), ['lint', '--config', 'redocly.yaml', ...files, '--format=json'])
  const reports = JSON.parse(`[${output.replace(/\}\s*(?=\{\s*"totals")/g, '},')}]`) as Array<{ problems: Json[] }>
  if (reports.length !== files.length) throw new Error(`redocly: ${reports.length} reports for ${files.length} files`)
  return byFile(reports.flatMap((report, i) => report.problems.map((problem) => ({
    file: files[i] as string,
    finding: `${problem.severity === 'error' ? 'error' : 'warning'} ${problem.ruleId}: ${problem.message} at ${problem.location?.[0]?.pointer ?? '?'}`
  }))))
}

async function spectral (files: string[]): Promise<Findings> {
  const results = JSON.parse(await run(bin('spectral'), ['lint', '-r', '.spectral.yaml', ...files, '-f', 'json', '--quiet'])) as Json[]
  return byFile(results.map((result) => ({
    file: result.source ?? '?',
    finding: `${result.severity === 0 ? 'error' : 'warning'} ${result.code}: ${result.message} at ${(result.path as string[]).join('.')}`
  })))
}

/** The rules a file broke. */
const rules = (findings: Findings, file: string) => [...new Set((findings.get(file) ?? []).map((finding) => finding.split(/[ :]/)[1]))].sort()

t.test('the documents lint clean under the project rule sets', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'openapi-lint-'))
  t.teardown(async () => await rm(dir, { recursive: true, force: true }))
  const documents: Record<string, Json> = {
    'service.json': (await serviceDocument(t)).doc,
    // With mail: the recovery operations are in it.
    'service-public-url.json': (await serviceDocument(t, { publicUrl: PUBLIC_URL, mail: DOCS_MAIL, requireVerifiedEmail: true })).doc,
    'plugin.json': await pluginDocument(t, '/auth'),
    'plugin-public-url.json': await pluginDocument(t, '/auth', { publicUrl: PUBLIC_URL, redoc: true }),
    // What the service's document once was like: the rule sets must still see its problems.
    'bare.json': {
      openapi: '3.1.0',
      info: { title: 'Bare', version: '1.0.0' },
      paths: { '/users/': { post: { tags: ['users'], responses: { 201: { description: 'Registered' } } } } }
    }
  }
  const files = await Promise.all(Object.entries(documents).map(async ([name, doc]) => {
    await writeFile(join(dir, name), JSON.stringify(doc, null, 2))
    return join(dir, name)
  }))

  const started = Date.now()
  const [fromRedocly, fromSpectral] = await Promise.all([redocly(files), spectral(files)])
  t.comment(`Redocly and Spectral on ${files.length} documents in ${Date.now() - started} ms`)
  for (const name of Object.keys(documents).filter((name) => name !== 'bare.json')) {
    t.same(fromRedocly.get(name) ?? [], [], `${name}: Redocly finds no error and no warning`)
    t.same(fromSpectral.get(name) ?? [], [], `${name}: Spectral finds no error and no warning`)
  }
  // Recommended rule sets, with the trailing-slash rule alone off (POST /users/ passes it).
  t.same(rules(fromRedocly, 'bare.json'), ['info-license', 'no-empty-servers', 'operation-4xx-response', 'operation-operationId', 'operation-summary', 'security-defined'],
    'Redocly still reports what the bare document lacks')
  t.same(rules(fromSpectral, 'bare.json'), ['info-contact', 'info-description', 'oas3-api-servers', 'operation-description', 'operation-operationId', 'operation-tag-defined'],
    'and so does Spectral')
})
