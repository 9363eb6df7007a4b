import { readFileSync } from 'node:fs'

// What the harness reads of a server process from Linux's /proc.

/** The pids of a process and its children (the cluster's workers), recursively. */
export function processTree (pid: number): number[] {
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
  return [pid, ...children.flatMap(processTree)]
}

/** User plus system CPU seconds used so far by a process and its children. */
export function cpuSeconds (pid: number): number {
  let ticks = 0
  for (const p of processTree(pid)) {
    const fields = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
    ticks += Number(fields[11]) + Number(fields[12])
  }
  return ticks / 100
}

/** Resident memory of one process, in MB. */
export function rssMb (pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return match === null ? 0 : Number(match[1]) / 1024
}
