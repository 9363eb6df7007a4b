// A strict reader of Prometheus' text exposition format (version 0.0.4, as prom-client writes
// it): every line must be a HELP, a TYPE or a sample of a declared family, or it throws.

export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

export interface Family {
  name: string
  type: string
  help: string
}

export interface Exposition {
  families: Map<string, Family>
  samples: Sample[]
  /** The value of the one sample of `name` with exactly these labels; undefined if there is none. */
  value: (name: string, labels?: Record<string, string>) => number | undefined
  /** The sum over the samples of `name` whose labels include these. */
  sum: (name: string, labels?: Record<string, string>) => number
  /** The samples of `name` whose labels include these. */
  select: (name: string, labels?: Record<string, string>) => Sample[]
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*'
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)(?: (-?\\d+))?$`)
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/
const SUFFIXES: Record<string, string[]> = { histogram: ['_bucket', '_sum', '_count'], summary: ['', '_sum', '_count'] }

function parseLabels (text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {}
  let rest = text
  while (rest !== '') {
    const match = LABEL.exec(rest)
    if (match === null) throw new Error(`malformed labels in: ${line}`)
    const [whole, name = '', raw = ''] = match
    if (name in labels) throw new Error(`label ${name} twice in: ${line}`)
    labels[name] = raw.replace(/\\(.)/g, (_all, char: string) => char === 'n' ? '\n' : char)
    rest = rest.slice(whole.length)
  }
  return labels
}

function parseValue (text: string, line: string): number {
  if (text === '+Inf') return Infinity
  if (text === '-Inf') return -Infinity
  if (text === 'NaN') return NaN
  const value = Number(text)
  if (text === '' || Number.isNaN(value)) throw new Error(`malformed value in: ${line}`)
  return value
}

/** The family a sample name belongs to, by the suffixes its declared type allows. */
function familyOf (name: string, families: Map<string, Family>): Family | undefined {
  const exact = families.get(name)
  if (exact !== undefined && !(exact.type in SUFFIXES)) return exact
  for (const family of families.values()) {
    if ((SUFFIXES[family.type] ?? []).some((suffix) => `${family.name}${suffix}` === name)) return family
  }
  return undefined
}

const includes = (labels: Record<string, string>, wanted: Record<string, string>) =>
  Object.entries(wanted).every(([key, value]) => labels[key] === value)

export function parseExposition (text: string): Exposition {
  const families = new Map<string, Family>()
  const samples: Sample[] = []
  const help = new Map<string, string>()
  for (const line of text.split('\n')) {
    if (line === '') continue
    const comment = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line)
    if (comment !== null) {
      const [, kind, name = '', rest = ''] = comment
      if (!new RegExp(`^${NAME}$`).test(name)) throw new Error(`malformed metric name in: ${line}`)
      if (kind === 'HELP') help.set(name, rest)
      else {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest)) throw new Error(`unknown type in: ${line}`)
        if (families.has(name)) throw new Error(`${name} declared twice`)
        families.set(name, { name, type: rest, help: help.get(name) ?? '' })
      }
      continue
    }
    if (line.startsWith('#')) continue
    const match = SAMPLE.exec(line)
    if (match === null) throw new Error(`malformed sample: ${line}`)
    const [, name = '', labels = '', value = ''] = match
    if (familyOf(name, families) === undefined) throw new Error(`sample of an undeclared family: ${line}`)
    samples.push({ name, labels: parseLabels(labels, line), value: parseValue(value, line) })
  }
  const select = (name: string, labels: Record<string, string> = {}) =>
    samples.filter((sample) => sample.name === name && includes(sample.labels, labels))
  return {
    families,
    samples,
    select,
    value (name, labels = {}) {
      const exact = samples.filter((sample) => sample.name === name && includes(sample.labels, labels) &&
        Object.keys(sample.labels).length === Object.keys(labels).length)
      if (exact.length > 1) throw new Error(`${exact.length} samples of ${name} with labels ${JSON.stringify(labels)}`)
      return exact[0]?.value
    },
    sum: (name, labels = {}) => select(name, labels).reduce((total, sample) => total + sample.value, 0)
  }
}
