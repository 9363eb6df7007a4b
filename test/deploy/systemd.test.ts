import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { startCommand, tempDir } from '../src/process-helper.js'
import { INSTALL_DIR, readServiceUnit, STATE_DIR, UNIT_PATH } from './systemd-unit.js'

// deploy/token-auth.service checked by Debian's systemd tools: `systemd-analyze verify` with
// no complaint at all (it exits 0 on an unknown key, so its output must be empty too), and the
// offline security review. Running it needs systemd as PID 1, which a test machine may lack;
// test/package/production.test.ts runs its command line on a production tree instead.

const run = promisify(execFile)
const analyze = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((path) => existsSync(path))
const skip = analyze === undefined && process.env.CI === undefined ? 'systemd-analyze is not installed (apt-get install systemd)' : false

t.test('systemd-analyze verify: no error and no warning', { skip }, async (t) => {
  if (analyze === undefined) throw new Error('systemd-analyze is not installed (.ci/run installs systemd)')
  const unit = await readServiceUnit()
  let path = UNIT_PATH
  // verify checks that ExecStart's program exists: where node lives elsewhere, point it there.
  if (!existsSync(unit.execStart[0] as string)) {
    path = join(await tempDir(t), 'token-auth.service')
    await writeFile(path, unit.text.replace(/^ExecStart=\S+/m, `ExecStart=${process.execPath}`))
  }
  const { stdout, stderr } = await run(analyze, ['verify', path], { timeout: 60_000 })
  t.equal(stdout + stderr, '', 'nothing to report')
})

t.test('systemd-analyze security rates the unit at most 2.0 ("OK")', { skip }, async (t) => {
  if (analyze === undefined) throw new Error('systemd-analyze is not installed (.ci/run installs systemd)')
  const { stdout } = await run(analyze, ['security', '--offline=yes', '--no-pager', UNIT_PATH], { timeout: 60_000 })
  const level = /Overall exposure level for token-auth\.service: ([0-9.]+)/.exec(stdout)
  t.ok(level, 'an overall exposure level', { stdout })
  t.ok(Number(level?.[1]) <= 2, `exposure ${level?.[1] ?? '?'} of 10`, { stdout })
})

t.test('the unit: its own user and state directory, a read-only system, npm start\'s node flags', async (t) => {
  const unit = await readServiceUnit()
  for (const setting of ['DynamicUser=yes', 'StateDirectory=token-auth', 'ProtectSystem=strict', 'NoNewPrivileges=yes', 'ProtectHome=yes', 'PrivateTmp=yes', 'KillMode=mixed']) {
    t.match(unit.text, new RegExp(`^${setting}$`, 'm'), setting)
  }
  t.same(unit.execStart.slice(1), startCommand().map((arg) => arg.replace(/^dist\//, `${INSTALL_DIR}/dist/`)),
    'ExecStart runs what npm start runs, from the install directory')
  t.equal(unit.workingDirectory, INSTALL_DIR)
  t.equal(unit.environment.DATABASE_URL, `sqlite:${STATE_DIR}/app.db`, 'the database (and its generated secret) in the state directory')
  t.equal(unit.environment.HOST, '127.0.0.1', 'loopback only, behind deploy/nginx.conf')
  t.equal(unit.environment.TRUST_PROXY, '127.0.0.1', 'believing the local nginx only')
})
