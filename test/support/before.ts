// tap's `before`, once per tap run, unless the runner (run-tests.ts) built already or runs only
// tiers that need no build (it says so in TEST_BUILD): the run's one compilation, then from its
// output the bundled entry points the process tests spawn and the built tree the bundle, pack
// and production tests share. A failed build fails those tests, not this. The imports wait
// until a build is due: the compiler alone takes a second to load.
if (process.env.TEST_BUILD !== 'done') {
  const [{ compile }, { buildEntries }, { makeBuiltTree }] = await Promise.all([
    import('./compile.js'), import('./build-entries.js'), import('./built-tree.js')
  ])
  const compiled = await compile()
  await Promise.all([buildEntries(compiled), makeBuiltTree(compiled)])
}
