import t from 'tap'
import { filesOf, GROUP_SIZE, groupsOf, isTapFile, RUN_ORDER, runEntries, staleClaims, testLikeFiles, TIERS, tiersOf } from './support/tiers.js'

// Every test file runs in exactly one tier (test/support/tiers.ts), so that the tier scripts
// together run what `tap` alone would, each file once.

const files = testLikeFiles()

t.test('every test file belongs to exactly one tier', async (t) => {
  const wrong = files.map((file) => ({ file, tiers: tiersOf(file) })).filter(({ tiers }) => tiers.length !== 1)
  t.same(wrong, [], 'no file in no tier (a test tap would not run: name it *.test.ts) or in two')
})

t.test('every file the tiers name exists', async (t) => {
  t.same(staleClaims(files), [], 'no entry left behind by a renamed or deleted test')
})

t.test('the tiers together are the tap files, each once', async (t) => {
  const all = TIERS.flatMap((tier) => filesOf([tier], files))
  t.same([...all].sort(), files.filter(isTapFile), 'the union of the tiers is every tap file')
  t.equal(new Set(all).size, all.length, 'no file twice')
  for (const tier of TIERS) t.ok(filesOf([tier], files).length > 0, `${tier} has files`)
  t.ok(filesOf(['unit'], files).includes('test/tiers.test.ts'), 'a file no tier names is in-process')
})

t.test('each tier runs in groups that hold its files, each once, a folder at a time', async (t) => {
  t.same([...RUN_ORDER].sort(), [...TIERS].sort(), 'every tier is run, once')
  for (const tier of TIERS) {
    const members = filesOf([tier], files)
    const groups = groupsOf(members, GROUP_SIZE[tier])
    t.same([...groups.flat()].sort(), members, `${tier}: every file in a group`)
    t.equal(new Set(groups.flat()).size, members.length, `${tier}: and in one only`)
    t.same(groups.filter((group) => group.length === 0 || group.length > GROUP_SIZE[tier]), [], `${tier}: no group empty or over ${GROUP_SIZE[tier]} files`)
    t.same(groups.filter((group) => new Set(group.map((file) => file.slice(0, file.lastIndexOf('/')))).size !== 1), [], `${tier}: each group from one folder`)
  }
  t.equal(GROUP_SIZE.package, 1, 'the package tier keeps a process per file: each is a long install, and two run side by side')
  const entries = runEntries(files)
  const names = entries.map((entry) => entry.name)
  t.same([...names].sort((a, b) => a.localeCompare(b, 'en')), names, 'tap, which sorts its files by name, runs them in this order')
  t.same([...new Set(entries.map((entry) => entry.tier))], RUN_ORDER.filter((tier) => filesOf([tier], files).length > 0), 'tier by tier, in RUN_ORDER')
  t.same(entries.flatMap((entry) => entry.members).sort(), files.filter(isTapFile).sort(), 'every tap file once')
  t.equal(GROUP_SIZE.browser, 1, 'and so does the browser tier')
})
