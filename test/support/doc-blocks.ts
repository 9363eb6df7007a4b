import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { repoRoot } from './harness.js'

/** A fenced code block of a Markdown file, with the heading it sits under. */
export interface DocBlock {
  heading: string
  lang: string
  code: string
  /** The line of its opening fence, from 1. */
  line: number
}

/**
 * The fenced code blocks of a Markdown file of the repository, in order: ``` or ~~~ fences,
 * indented ones (in a list item) too, their code without that indentation.
 */
export function docBlocks (file: string): DocBlock[] {
  const blocks: DocBlock[] = []
  let heading = ''
  let open: DocBlock | undefined
  let indent = 0
  let marker = ''
  for (const [index, line] of readFileSync(join(repoRoot, file), 'utf8').split('\n').entries()) {
    const fence = /^( *)(`{3,}|~{3,})(.*)$/.exec(line)
    if (open !== undefined) {
      if (fence !== null && fence[2]?.startsWith(marker) === true && fence[3]?.trim() === '') {
        blocks.push(open)
        open = undefined
      } else {
        open.code += `${line.replace(new RegExp(`^ {0,${indent}}`), '')}\n`
      }
    } else if (fence !== null) {
      open = { heading, lang: (fence[3] ?? '').trim(), code: '', line: index + 1 }
      indent = fence[1]?.length ?? 0
      marker = fence[2] ?? ''
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
