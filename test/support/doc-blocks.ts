import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { repoRoot } from './harness.js'

/** A fenced code block of a Markdown file, with the heading it sits under. */
export interface DocBlock {
  heading: string
  lang: string
  code: string
}

/** The fenced code blocks of a Markdown file of the repository, in order. */
export function docBlocks (file: string): DocBlock[] {
  const blocks: DocBlock[] = []
  let heading = ''
  let open: DocBlock | undefined
  for (const line of readFileSync(join(repoRoot, file), 'utf8').split('\n')) {
    if (open !== undefined) {
      if (line.startsWith('```')) {
        blocks.push(open)
        open = undefined
      } else {
        open.code += `${line}\n`
      }
    } else if (line.startsWith('```')) {
      open = { heading, lang: line.slice(3).trim(), code: '' }
    } else if (/^#{1,6} /.test(line)) {
      heading = line.replace(/^#+ /, '')
    }
  }
  return blocks
}

/** The one code block under `heading` in `file` (in `lang`, when given); throws when there is not exactly one. */
export function docBlock (file: string, heading: string, lang?: string): DocBlock {
  const found = docBlocks(file).filter((block) => block.heading === heading && (lang === undefined || block.lang === lang))
  if (found.length !== 1) throw new Error(`${file}: ${found.length} ${lang ?? ''} code blocks under "${heading}", expected 1`)
  return found[0] as DocBlock
}
