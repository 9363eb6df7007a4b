import { spawn } from 'node:child_process'
import t from 'tap'
import { dbEnv, freePort, repoRoot, tempDir, WatchedProcess } from './process-helper.js'

// `npm run dev`: the sources under tsx's watch mode, its log made readable by pino-pretty.

t.setTimeout(90_000)

t.test('npm run dev serves, and logs readable lines rather than JSON', async (t) => {
  const dir = await tempDir(t)
  const port = await freePort()
  const child = spawn('npm', ['run', '--silent', 'dev'], {
    cwd: repoRoot,
    env: dbEnv(dir, { HOST: '127.0.0.1', PORT: String(port), NPM_CONFIG_UPDATE_NOTIFIER: 'false' }),
    stdio: 'pipe',
    detached: true
  })
  const dev = new WatchedProcess(child, 'exit')
  // npm, the shell, tsx's watcher, the server and pino-pretty: one process group.
  t.teardown(async () => {
    try { process.kill(-(child.pid as number), 'SIGKILL') } catch {}
    await dev.exited
  })
  await dev.waitFor('the docs line', () => dev.stdout.includes(`API docs at http://127.0.0.1:${port}/docs`), 60_000)
  const lines = dev.stdout.split('\n').filter((line) => line.trim() !== '')
  t.notOk(lines.some((line) => line.startsWith('{')), 'no JSON line', { stdout: dev.stdout })
  t.ok(lines.some((line) => /\bINFO\b.*Server listening at/.test(line)), 'pino-pretty lines: level and message', { stdout: dev.stdout })
  const health = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(10_000) })
  t.equal(health.status, 200)
  process.kill(-(child.pid as number), 'SIGINT')
  await dev.exited
})
