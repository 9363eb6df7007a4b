import { buildEntries } from './build-entries.js'
import { makeBuiltTree } from './built-tree.js'
import { compile } from './compile.js'

// tap's `before`, once per tap run, unless the runner (run-tests.ts) built already or runs only
// tiers that need no build (it says so in TEST_BUILD): the run's one compilation, then from its
// output the bundled entry points the process tests spawn and the built tree the bundle, pack
// and production tests share. A failed build fails those tests, not this.
if (process.env.TEST_BUILD !== 'done') {
  const compiled = await compile()
  await Promise.all([buildEntries(compiled), makeBuiltTree(compiled)])
}
