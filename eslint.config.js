import neostandard, { resolveIgnoresFromGitignore } from 'neostandard'

export default [
  ...neostandard({
    ts: true,
    ignores: [...resolveIgnoresFromGitignore(), 'examples/*/dist/**']
  }),
  {
    files: ['**/*.ts'],
    rules: {
      // The TypeScript compiler already refuses real redeclarations; this rule would also refuse a
      // TypeBox schema and its static type sharing one name, as TypeBox documents them.
      '@typescript-eslint/no-redeclare': 'off'
    }
  }
]
