import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { PassThrough } from 'node:stream'
import t from 'tap'
import ts from 'typescript'
import { run as runCli } from '../src/service/cli.js'
import { ConfigSchema } from '../src/service/config.js'
import { docBlocks, type DocBlock } from './support/doc-blocks.js'
import { repoRoot } from './support/harness.js'

// Every fenced code block of the repository's Markdown is checked here, by its language:
// TypeScript and JavaScript compile (strict) against the built declarations in dist/ (hence the
// package tier, which builds first), shell passes `bash -n` and names only real npm scripts, CLI
// commands, settings and files, JSON parses, env lines name settings, nginx and systemd lines are
// deploy/'s, and a plain-text block is the layout tree, whose paths exist. A block no check fits
// fails. Some blocks are also run by other tests (RUN_ELSEWHERE); that list is checked against them.

interface Block extends DocBlock { file: string }

/** The Markdown files of the work tree (tracked, or new and not ignored). */
const documents = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard', '*.md'], { cwd: repoRoot, encoding: 'utf8' })
  .split('\0').filter((file) => file !== '' && existsSync(join(repoRoot, file))).sort()
const blocks: Block[] = documents.flatMap((file) => docBlocks(file).map((block) => ({ ...block, file })))

/** A block's name in PRELUDES and TEXT_BLOCKS: its file › heading, then #n when the heading has several. */
function keyOf (block: Block): string {
  const siblings = blocks.filter((other) => other.file === block.file && other.heading === block.heading)
  return `${block.file} › ${block.heading}${siblings.length > 1 ? ` #${siblings.indexOf(block) + 1}` : ''}`
}
const where = (block: Block) => `${block.file}:${block.line} (${block.lang === '' ? 'text' : block.lang}, under "${block.heading}")`

/** Blocks that another test also runs, beyond the checks here; each names its block with docBlock(). */
const RUN_ELSEWHERE = [
  { file: 'README.md', heading: 'Embedding in a Fastify service', lang: 'sh', test: 'test/package/tarball.test.ts', does: 'runs its install line' },
  { file: 'docs/deployment.md', heading: 'Production install', lang: 'sh', test: 'test/package/production.test.ts', does: 'runs its line for the optional packages' },
  { file: 'docs/embedding.md', heading: 'OpenAPI', test: 'test/hosts/host-swagger.test.ts', does: 'registers its refResolver' },
  { file: 'docs/embedding.md', heading: 'CORS in a host', test: 'test/e2e/cors.test.ts', does: 'gives its CORS options to a host Chromium calls' }
]

// ---------------------------------------------------------------------------------------------
// What the blocks may name: a project's npm scripts, bins, settings and files, and the CLI.

interface Project { dir: string, scripts: Record<string, string>, bin: Record<string, string>, settings: Set<string>, rootDir: string, outDir: string }

/** The project a Markdown file documents: the folder of the nearest package.json above it. */
function projectOf (file: string): Project {
  let dir = dirname(join(repoRoot, file))
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir)
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { scripts?: Record<string, string>, bin?: Record<string, string> }
  const tsconfig = (ts.readConfigFile(join(dir, 'tsconfig.json'), ts.sys.readFile).config ?? {}) as { compilerOptions?: { rootDir?: string, outDir?: string } }
  // The service's settings are its config schema; another project's, what its sources read of process.env.
  const settings = dir === repoRoot
    ? new Set([...Object.keys(ConfigSchema.properties), 'ENV_FILE'])
    : new Set(readdirSync(join(dir, 'src')).flatMap((name) => [...readFileSync(join(dir, 'src', name), 'utf8').matchAll(/process\.env\.([A-Z_][A-Z0-9_]*)/g)].map((match) => match[1] as string)))
  return { dir, scripts: pkg.scripts ?? {}, bin: pkg.bin ?? {}, settings, rootDir: tsconfig.compilerOptions?.rootDir ?? '.', outDir: tsconfig.compilerOptions?.outDir ?? 'dist' }
}

interface CliSyntax { positionals: number, flags: Map<string, boolean> }

/** The CLI's commands, read from its own `--help`: positional arguments and flags (true: takes a value). */
async function cliCommands (): Promise<Map<string, CliSyntax>> {
  const stdout = new PassThrough()
  let usage = ''
  stdout.setEncoding('utf8').on('data', (chunk: string) => { usage += chunk })
  const code = await runCli(['--help'], { stdin: new PassThrough(), stdout, stderr: new PassThrough(), env: {} })
  if (code !== 0) throw new Error(`the CLI's --help exited ${code}`)
  const commands = new Map<string, CliSyntax>()
  for (const line of (usage.split('Commands:\n')[1] ?? '').split('\n\n')[0]?.split('\n') ?? []) {
    const match = /^ {2}([a-z][\w-]*)(.*)$/.exec(line)
    if (match === null) continue
    const words = (match[2] ?? '').split(/\s{2,}/)[0]?.replace(/[[\]]/g, '').split(/\s+/).filter((word) => word !== '') ?? []
    const syntax: CliSyntax = { positionals: 0, flags: new Map() }
    words.forEach((word, i) => {
      if (word.startsWith('--')) syntax.flags.set(word, /^[A-Z]+$/.test(words[i + 1] ?? ''))
      else if (!(words[i - 1] ?? '').startsWith('--')) syntax.positionals++
    })
    commands.set(match[1] as string, syntax)
  }
  return commands
}

const cli = await cliCommands()
const projects = new Map(documents.map((file) => [file, projectOf(file)]))

// ---------------------------------------------------------------------------------------------
// Shell.

/** The simple commands of a shell text, as words with their quotes removed; `$(…)` inside a word becomes `$(…)` and its commands are listed too. */
function shellCommands (code: string): string[][] {
  const commands: string[][] = []
  let words: string[] = []
  let word: string | undefined
  const endWord = () => { if (word !== undefined) words.push(word); word = undefined }
  const endCommand = () => { endWord(); if (words.length > 0) commands.push(words); words = [] }
  /** The index of the `)` closing the `(` at `open`, past quotes and nested parentheses. */
  const closing = (open: number) => {
    let depth = 0
    for (let i = open; i < code.length; i++) {
      const c = code[i]
      if (c === "'") i = code.indexOf("'", i + 1)
      else if (c === '(') depth++
      else if (c === ')' && --depth === 0) return i
    }
    throw new Error(`no ) for the ( at ${open}`)
  }
  const substitution = (at: number) => {
    const end = closing(at + 1)
    commands.push(...shellCommands(code.slice(at + 2, end)))
    word = `${word ?? ''}$(…)`
    return end
  }
  for (let i = 0; i < code.length; i++) {
    const c = code[i] as string
    if (c === '\\' && code[i + 1] === '\n') i++
    else if (c === '\\') word = `${word ?? ''}${code[++i] ?? ''}`
    else if (c === "'") {
      const end = code.indexOf("'", i + 1)
      word = `${word ?? ''}${code.slice(i + 1, end)}`
      i = end
    } else if (c === '"') {
      word ??= ''
      for (i++; i < code.length && code[i] !== '"'; i++) {
        if (code[i] === '$' && code[i + 1] === '(') i = substitution(i)
        else if (code[i] === '\\') word += code[++i] ?? ''
        else word += code[i] as string
      }
    } else if (c === '$' && code[i + 1] === '(') i = substitution(i)
    else if (c === '#' && word === undefined) i = code.indexOf('\n', i) === -1 ? code.length : code.indexOf('\n', i) - 1
    else if (c === '\n' || '|&;()'.includes(c)) endCommand()
    else if (c === ' ' || c === '\t') endWord()
    else word = `${word ?? ''}${c}`
  }
  endCommand()
  return commands
}

/** npm's own commands the docs may use; any other must be a script of the project. */
const NPM_COMMANDS = new Set(['ci', 'install', 'pack', 'prune', 'publish', 'version'])
const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*=/
const SETTING = /^([A-Z][A-Z0-9_]*)=/

/** What is wrong with a CLI invocation: its command, flags and number of arguments against the CLI's usage. */
function cliProblems (args: string[]): string[] {
  const [command, ...rest] = args
  const syntax = cli.get(command ?? '')
  if (syntax === undefined) return [`${command ?? '(none)'} is not a command of the CLI (${[...cli.keys()].join(', ')})`]
  const problems: string[] = []
  let positionals = 0
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i] as string
    if (!arg.startsWith('--')) positionals++
    else if (!syntax.flags.has(arg.split('=')[0] as string)) problems.push(`${command} has no option ${arg}`)
    else if (syntax.flags.get(arg) === true) i++
  }
  if (positionals !== syntax.positionals) problems.push(`${command} takes ${syntax.positionals} argument(s), given ${positionals}: ${rest.join(' ')}`)
  return problems
}

/** What is wrong with a word that names a file of the project: it does not exist, or (under dist/) no source or script makes it. */
function pathProblems (word: string, project: Project): string[] {
  const path = word.replace(/^\.\//, '')
  if (path.startsWith('/') || path.includes('$') || path.includes('*') || !existsSync(join(project.dir, path.split('/')[0] as string)) || existsSync(join(project.dir, path))) return []
  const outDir = project.outDir.replace(/^\.\//, '').replace(/\/$/, '')
  if (path.startsWith(`${outDir}/`)) {
    const source = join(project.dir, project.rootDir, path.slice(outDir.length + 1)).replace(/\.(m?)js$/, '.$1ts')
    if (existsSync(source) || Object.values(project.scripts).some((script) => script.includes(path))) return []
    return [`${word}: neither compiled from ${relative(repoRoot, source)} nor written by an npm script`]
  }
  return [`${word}: no such file in ${relative(repoRoot, project.dir) || 'the repository'}`]
}

/** What is wrong with one simple command of a block. */
function commandProblems (words: string[], project: Project): string[] {
  let start = 0
  while (start < words.length && ASSIGNMENT.test(words[start] as string)) start++
  // Assignments alone set the snippet's own shell variables.
  if (start === words.length) return []
  const command = words.slice(words[start] === 'sudo' ? start + 1 : start)
  const problems: string[] = []
  for (const word of [...words.slice(0, start), ...command.filter((arg) => SETTING.test(arg))]) {
    const key = SETTING.exec(word)?.[1]
    if (key !== undefined && !project.settings.has(key)) problems.push(`${key} is not a setting of ${relative(repoRoot, project.dir) || 'the service'}`)
  }
  for (const word of command) problems.push(...pathProblems(word, project))
  const [program, sub, ...args] = command
  const cliEntry = Object.values(project.bin)[0]
  if (program === 'npm' && sub === 'run') {
    const [script, ...rest] = args.filter((arg) => !arg.startsWith('-') || arg === '--')
    if (script === undefined || project.scripts[script] === undefined) problems.push(`npm run ${script ?? ''}: no such script`)
    else if (cliEntry !== undefined && project.scripts[script].includes(cliEntry)) problems.push(...cliProblems(args.includes('--') ? args.slice(args.indexOf('--') + 1) : []))
    else if (rest.length > 0 && rest[0] !== '--') problems.push(`npm run ${script} ${rest.join(' ')}: arguments go after --`)
  } else if (program === 'npm' && sub !== undefined && !NPM_COMMANDS.has(sub) && project.scripts[sub] === undefined) {
    problems.push(`npm ${sub}: neither one of npm's commands the docs use (${[...NPM_COMMANDS].join(', ')}) nor a script`)
  } else if (program === 'npx' && sub !== undefined) {
    if (project.bin[sub] !== undefined) problems.push(...cliProblems(args))
    else if (!existsSync(join(repoRoot, 'node_modules', '.bin', sub))) problems.push(`npx ${sub}: no such bin here`)
  }
  const entry = cliEntry === undefined ? -1 : command.findIndex((word) => word.endsWith(cliEntry))
  if (entry >= 0 && program !== 'npx') problems.push(...cliProblems(command.slice(entry + 1)))
  return problems
}

/** What is wrong with a shell block: its syntax (`bash -n`), then each of its commands. */
function shellProblems (code: string, project: Project): string[] {
  const syntax = spawnSync('bash', ['-n'], { input: code, encoding: 'utf8' })
  if (syntax.status !== 0) return [`bash -n: ${syntax.stderr.trim()}`]
  return shellCommands(code).flatMap((words) => commandProblems(words, project))
}

// ---------------------------------------------------------------------------------------------
// JSON, env, nginx and systemd, and the layout tree.

/** The deploy/ file a block in these languages is an excerpt of. */
const DEPLOY_FILES: Record<string, string> = { nginx: 'deploy/nginx.conf', systemd: 'deploy/token-auth.service', ini: 'deploy/token-auth.service' }

/** What is wrong with an excerpt: its lines, blank ones and `…` left out, are not lines of the deploy file in that order. */
function excerptProblems (code: string, file: string): string[] {
  const lines = readFileSync(join(repoRoot, file), 'utf8').split('\n').map((line) => line.trim())
  let at = 0
  for (const line of code.split('\n').map((text) => text.trim()).filter((text) => text !== '' && !/^(#\s*)?(…|\.\.\.)$/.test(text))) {
    const found = lines.indexOf(line, at)
    if (found === -1) return [`not in ${file} (in this order): ${line}`]
    at = found + 1
  }
  return []
}

/** What is wrong with env lines: a line that is no KEY=value, or a key that is no setting. */
function envProblems (code: string, project: Project): string[] {
  return code.split('\n').filter((line) => line.trim() !== '' && !line.trim().startsWith('#')).flatMap((line) => {
    const key = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=/.exec(line)?.[1]
    if (key === undefined) return [`not a KEY=value line: ${line}`]
    return project.settings.has(key) ? [] : [`${key} is not a setting of ${relative(repoRoot, project.dir) || 'the service'}`]
  })
}

/**
 * What is wrong with a layout tree (a path, then what it holds): each path must exist, and so
 * must what its description names: `name/` and `name.ts` in that folder, `a/b` from the root,
 * and `npm run X` scripts.
 */
function treeProblems (code: string, project: Project): string[] {
  const problems: string[] = []
  let folder = project.dir
  for (const line of code.split('\n')) {
    const entry = /^(\S+)\s/.exec(line)?.[1]
    if (entry !== undefined) {
      const path = join(project.dir, entry.replace(/<[^>]*>\/?$/, ''))
      if (!existsSync(path)) problems.push(`${entry}: no such file or folder`)
      folder = entry.endsWith('/') ? path : dirname(path)
    }
    const description = entry === undefined ? line : line.slice(entry.length)
    for (const raw of description.split(/[\s,;:()]+/)) {
      const name = raw.replace(/\.$/, '')
      const inFolder = /^[\w-]+\/$/.test(name) || /^[\w-]+\.ts$/.test(name)
      const fromRoot = /^[\w.-]+(\/[\w.-]+)+\/?$/.test(name)
      if (inFolder && !existsSync(join(folder, name))) problems.push(`${name} (in ${relative(repoRoot, folder)}/): no such file or folder`)
      else if (fromRoot && !inFolder && !existsSync(join(project.dir, name))) problems.push(`${name}: no such file or folder`)
    }
    for (const match of description.matchAll(/npm run ([\w:-]+)/g)) {
      if (project.scripts[match[1] as string] === undefined) problems.push(`npm run ${match[1] as string}: no such script`)
    }
  }
  return problems
}

/** Plain-text blocks, by file and heading, and what they are checked as. */
const TEXT_BLOCKS: Record<string, 'tree'> = {
  'docs/development.md › Layout': 'tree'
}

const SHELL = new Set(['sh', 'bash', 'shell'])
const SCRIPT = new Set(['ts', 'typescript', 'js', 'javascript'])

/** What is wrong with a block other than TypeScript and JavaScript, or undefined when no check here fits it. */
function blockProblems (block: Block): string[] | undefined {
  const project = projects.get(block.file) ?? projectOf(block.file)
  if (SHELL.has(block.lang)) return shellProblems(block.code, project)
  if (block.lang === 'json') {
    try {
      JSON.parse(block.code)
      return []
    } catch (error) {
      return [`JSON: ${(error as Error).message}`]
    }
  }
  if (block.lang === 'env' || block.lang === 'dotenv') return envProblems(block.code, project)
  const deployFile = DEPLOY_FILES[block.lang]
  if (deployFile !== undefined) return excerptProblems(block.code, deployFile)
  if (block.lang === '' && TEXT_BLOCKS[keyOf(block)] === 'tree') return treeProblems(block.code, project)
  return undefined
}

// ---------------------------------------------------------------------------------------------
// TypeScript and JavaScript: one program.

const APP = "import Fastify from 'fastify'\nimport tokenAuth from 'fastify-token-auth'\nconst app = Fastify()\n"
const SETTINGS = 'declare const secret: string\ndeclare const database: string\n'

/** What a fragment assumes is in scope, put before it; a whole module (the README's) needs none. */
const PRELUDES: Record<string, string> = {
  'docs/embedding.md › OpenAPI': APP,
  'docs/embedding.md › Security headers and your `@fastify/helmet`': `${APP}import helmet from '@fastify/helmet'\n${SETTINGS}`,
  'docs/embedding.md › CORS in a host': APP,
  'docs/embedding.md › Metrics in a host': `${APP}${SETTINGS}`,
  'docs/embedding.md › Your own `@fastify/jwt`, decorators and types': `${APP}${SETTINGS}`,
  'docs/embedding.md › Scopes': `${APP}import { requireScopes, userOf } from 'fastify-token-auth'\n${SETTINGS}`,
  'docs/mail.md › In a host': `${APP}${SETTINGS}declare const transporter: { sendMail: (mail: object) => Promise<unknown> }\n`
}

interface Unit { block: Block, prelude: string, name: string }

/** The `declare module '…' { … }` statements of a code text, with their offsets. */
function augmentations (code: string): Array<{ start: number, end: number, text: string }> {
  return [...code.matchAll(/^[ \t]*declare module ['"][^'"]+['"]\s*\{/gm)].map((match) => {
    let depth = 0
    let end = match.index
    do {
      if (code[end] === '{') depth++
      else if (code[end] === '}') depth--
      end++
    } while ((depth > 0 || code[end - 1] !== '}') && end < code.length)
    return { start: match.index, end, text: code.slice(match.index, end) }
  })
}

/** A declaration with its layout and separators (`,` `;` and line ends) made one space. */
const normalized = (text: string) => text.replace(/[\s,;]+/g, ' ').trim()
const typeTests = readdirSync(join(repoRoot, 'test', 'types'), { recursive: true, encoding: 'utf8' }).filter((name) => name.endsWith('.tst.ts')).sort()
  .map((name) => ({ file: `test/types/${name}`, text: normalized(readFileSync(join(repoRoot, 'test', 'types', name), 'utf8')) }))

/**
 * A module augmentation would reach every file of the one program, so it is left out there; the
 * type tests, each folder a program of its own, must compile it: what is wrong is an augmentation
 * of the block no file of test/types holds, layout and separators aside.
 */
function augmentationProblems (block: Block): string[] {
  return augmentations(block.code).flatMap(({ text }) =>
    typeTests.some((test) => test.text.includes(normalized(text))) ? [] : [`no type test under test/types compiles this augmentation: ${normalized(text)}`])
}

/** The packages only the tests use (test/tools/package.json). */
const testTools = JSON.parse(readFileSync(join(repoRoot, 'test', 'tools', 'package.json'), 'utf8')) as { dependencies?: Record<string, string> }

/**
 * Type-checks the blocks, each a module of its own, in one program: strict, NodeNext, with
 * `fastify-token-auth` resolved as a host resolves it (package.json's exports: dist/src/index.d.ts),
 * and a block's module augmentations blanked out (see augmentationProblems). Declarations are not
 * checked here (skipLibCheck): the type tests check the package's.
 */
function compileBlocks (scripts: Block[]): Map<Block, string[]> {
  const units: Unit[] = scripts.map((block, i) => ({
    block,
    prelude: PRELUDES[keyOf(block)] ?? '',
    name: join(repoRoot, 'doc-blocks', `${i}-${block.file.replace(/[^\w]+/g, '-')}-${block.line}.${/^(js|javascript)$/.test(block.lang) ? 'mjs' : 'mts'}`)
  }))
  /** What the compiler reads: the prelude, then the block with each augmentation's lines left blank. */
  const text = ({ prelude, block }: Unit) => prelude + augmentations(block.code).reduceRight((code, { start, end }) =>
    code.slice(0, start) + code.slice(start, end).replace(/[^\n]/g, '') + code.slice(end), block.code)
  const byName = new Map(units.map((unit) => [unit.name, unit]))
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    allowJs: true,
    checkJs: true,
    skipLibCheck: true,
    noEmit: true,
    types: ['node']
  }
  // A block may import a test tool (jose for a resource server, say): readers install it, and here
  // it resolves as from test/tools.
  const fromTools = join(repoRoot, 'test', 'tools', 'index.mts')
  options.paths = Object.fromEntries(Object.keys(testTools.dependencies ?? {}).flatMap((name) => {
    const resolved = ts.resolveModuleName(name, fromTools, options, ts.sys).resolvedModule?.resolvedFileName
    return resolved === undefined ? [] : [[name, [resolved]]]
  }))
  const host = ts.createCompilerHost(options)
  const { fileExists, getSourceFile, readFile } = host
  host.fileExists = (name) => byName.has(name) || fileExists.call(host, name)
  host.readFile = (name) => { const unit = byName.get(name); return unit === undefined ? readFile.call(host, name) : text(unit) }
  host.getSourceFile = (name, language, ...rest) => {
    const unit = byName.get(name)
    return unit === undefined ? getSourceFile.call(host, name, language, ...rest) : ts.createSourceFile(name, text(unit), language)
  }
  const program = ts.createProgram([...byName.keys()], options, host)
  const general = [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()].map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'))
  if (general.length > 0) throw new Error(`the doc blocks' program: ${general.join('; ')}`)
  return new Map(units.map((unit) => {
    const file = program.getSourceFile(unit.name) as ts.SourceFile
    const preludeLines = unit.prelude.split('\n').length - 1
    const problems = [...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)].map((d) => {
      const line = file.getLineAndCharacterOfPosition(d.start ?? 0).line - preludeLines
      const at = line < 0 ? 'its prelude' : `${unit.block.file}:${unit.block.line + 1 + line}`
      return `${at}: TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`
    })
    return [unit.block, problems]
  }))
}

// ---------------------------------------------------------------------------------------------
// Broken samples: the same checks, in the same program, must find each of them.

const sample = (lang: string, code: string, file = 'README.md', heading = 'a sample'): Block => ({ file, heading, lang, code, line: 1 })
const BROKEN_SCRIPTS = [
  sample('ts', "import tokenAuth from 'fastify-token-auth'\nimport Fastify from 'fastify'\nawait Fastify().register(tokenAuth, { database: 'sqlite::memory:' })\n"),
  sample('ts', "import { noSuchExport } from 'fastify-token-auth'\nnoSuchExport()\n"),
  sample('js', "import Fastify from 'fastify'\nawait Fastify().lisen({ port: 3000 })\n"),
  sample('ts', "import 'fastify-token-auth'\ndeclare module 'fastify-token-auth' {\n  interface TokenAuthTypes { user: { id: number } }\n}\n")
]
const BROKEN_BLOCKS = [
  sample('sh', 'npm run no-such-script\n'),
  sample('sh', 'npm run cli -- frobnicate johndoe\n'),
  sample('sh', 'npm run cli -- list --jsn\n'),
  sample('sh', 'npm run cli -- disable\n'),
  sample('sh', 'npx fastify-token-auth create-user --password-stdin --email a@example.com\n'),
  sample('sh', 'JWT_SECRET=x PROT=8000 npm start\n'),
  sample('sh', 'TOKEN=$(curl -s localhost:8000/token | node dist/src/service/nope.js)\n'),
  sample('sh', 'sudo cp deploy/no-such.conf /etc/nginx/conf.d/\n'),
  sample('sh', "echo 'unclosed\n"),
  sample('json', '{ "a": 1, }\n'),
  sample('env', 'PORT=8000\nPROT=8000\n'),
  sample('nginx', 'upstream token_auth {\n    server 127.0.0.1:9999;\n}\n'),
  sample('', 'src/nowhere/     nothing\nsrc/service/     app.ts, nope.ts, db/\n', 'docs/development.md', 'Layout'),
  sample('yaml', 'a: 1\n')
]

const scriptBlocks = blocks.filter((block) => SCRIPT.has(block.lang))
const compiled = compileBlocks([...scriptBlocks, ...BROKEN_SCRIPTS])

t.test('every fence in the Markdown opens or closes a block the checks see', async (t) => {
  t.ok(documents.includes('README.md') && documents.includes('docs/embedding.md') && documents.includes('examples/host/README.md'), `${documents.length} Markdown files`)
  for (const file of documents) {
    const fences = readFileSync(join(repoRoot, file), 'utf8').split('\n').filter((line) => /^\s*(`{3,}|~{3,})/.test(line)).length
    t.equal(fences, docBlocks(file).length * 2, `${file}: ${fences} fences, ${docBlocks(file).length} blocks`)
  }
  t.ok(blocks.length >= 19, `${blocks.length} blocks`)
})

t.test('the TypeScript and JavaScript blocks compile against the built declarations', async (t) => {
  t.ok(scriptBlocks.length >= 5, `${scriptBlocks.length} blocks`)
  for (const block of scriptBlocks) t.same([...compiled.get(block) ?? ['not compiled'], ...augmentationProblems(block)], [], where(block))
  t.ok(scriptBlocks.some((block) => augmentations(block.code).length > 0), 'some declare module augmentations')
  for (const key of Object.keys(PRELUDES)) t.ok(scriptBlocks.some((block) => keyOf(block) === key), `the prelude of ${key} has its block`)
})

t.test('every other block passes the check of its language', async (t) => {
  for (const block of blocks.filter((block) => !SCRIPT.has(block.lang))) {
    const problems = blockProblems(block)
    t.same(problems ?? [`no check for a ${block.lang === '' ? 'plain-text' : block.lang} block here: add one, or a lang the checks know`], [], where(block))
  }
  for (const key of Object.keys(TEXT_BLOCKS)) t.ok(blocks.some((block) => block.lang === '' && keyOf(block) === key), `the text block ${key} exists`)
})

t.test("docs/embedding.md's install lines are the README's, which the package test runs", async (t) => {
  const install = (file: string) => blocks.find((block) => block.file === file && block.heading === 'Embedding in a Fastify service' && block.lang === 'sh')?.code
  t.ok(install('README.md'))
  t.equal(install('docs/embedding.md'), install('README.md'))
})

/** The TypeScript files under `dir` of test/, relative to test/; none of the test tools' packages (test/tools, test/node_modules). */
function testSources (dir = join(repoRoot, 'test')): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (entry.name === 'node_modules') return []
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return testSources(path)
    return entry.name.endsWith('.ts') ? [relative(join(repoRoot, 'test'), path)] : []
  })
}

t.test('the tests RUN_ELSEWHERE names take their blocks with docBlock(), and no other test does', async (t) => {
  const calls = (source: string) => [...source.matchAll(/docBlock\(\s*'([^']*)',\s*'([^']*)'(?:,\s*'([^']*)')?\s*\)/g)]
  const testFiles = testSources().filter((name) => !name.startsWith('support/doc-blocks') && name !== 'docs-blocks.test.ts')
  const found = testFiles.flatMap((name) => calls(readFileSync(join(repoRoot, 'test', name), 'utf8'))
    .map((match) => `test/${name}: ${match[1] as string} › ${match[2] as string}${match[3] === undefined ? '' : ` (${match[3]})`}`)).sort()
  const listed = RUN_ELSEWHERE.map((entry) => `${entry.test}: ${entry.file} › ${entry.heading}${entry.lang === undefined ? '' : ` (${entry.lang})`}`).sort()
  t.same(found, listed, 'the docBlock() calls of the tests are RUN_ELSEWHERE')
  for (const entry of RUN_ELSEWHERE) {
    t.ok(blocks.some((block) => block.file === entry.file && block.heading === entry.heading && (entry.lang === undefined || block.lang === entry.lang)),
      `${entry.file} has the block under "${entry.heading}" that ${entry.test} ${entry.does}`)
  }
})

t.test('the checks find each broken sample', async (t) => {
  for (const block of BROKEN_SCRIPTS) {
    const problems = [...compiled.get(block) ?? [], ...augmentationProblems(block)]
    t.ok(problems.length > 0, `${block.lang}: ${block.code.trim()}: ${problems.join('; ')}`)
  }
  for (const block of BROKEN_BLOCKS) {
    const problems = blockProblems(block) ?? ['no check fits it']
    t.ok(problems.length > 0, `${block.lang}: ${block.code.trim()}: ${problems.join('; ')}`)
  }
  t.same(shellCommands("A=1 B=\"$(echo 'x y' | tr x z)\" cmd --opt='a b' # note\n(cd dir && run) \\\n  more"),
    [['echo', 'x y'], ['tr', 'x', 'z'], ['A=1', 'B=$(…)', 'cmd', '--opt=a b'], ['cd', 'dir'], ['run'], ['more']])
})
