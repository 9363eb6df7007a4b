import { buildEntries } from './build-entries.js'
import { buildTree } from './built-tree.js'

// tap's `before`, once per run: the bundled entry points the process tests spawn, and the built
// tree the bundle, pack and production tests share. A failed build fails those tests, not this.
await Promise.all([buildEntries(), buildTree()])
