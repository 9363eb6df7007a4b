import t from 'tap'
import { filesOf, isTapFile, staleClaims, testLikeFiles, TIERS, tiersOf } from './support/tiers.js'

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
