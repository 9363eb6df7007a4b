import { execFileSync } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Teardown } from './process-helper.js'

// Real small file systems for the storage fault tests: a tmpfs (and an ext4 image on a loop
// device) mounted at a fresh directory, unmounted when the test ends. Mounting needs root.

function run (command: string, args: string[]): void {
  execFileSync(command, args, { stdio: 'pipe' })
}

/** Why `command args` failed, in a line: its stderr, else its error. */
function failure (error: unknown): string {
  const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim()
  return stderr !== undefined && stderr !== '' ? stderr : String(error)
}

function unmount (dir: string): void {
  try {
    run('umount', [dir])
  } catch {
    // Still busy (a process not yet gone): detach it now, the kernel frees it when unused.
    try { run('umount', ['-l', dir]) } catch {}
  }
  rmSync(dir, { recursive: true, force: true })
}

/** Why a small tmpfs cannot be mounted here, or undefined when it can (tried once, then unmounted). */
export function mountImpossible (): string | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'token-auth-mount-check-'))
  try {
    run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir])
  } catch (error) {
    rmSync(dir, { recursive: true, force: true })
    return `cannot mount a tmpfs (needs root): ${failure(error)}`
  }
  unmount(dir)
  return undefined
}

/** A fresh tmpfs of `size` (mount's notation: `2m`), unmounted at teardown. */
export function mountTmpfs (t: Teardown, size = '2m'): string {
  const dir = mkdtempSync(join(tmpdir(), 'token-auth-tmpfs-'))
  try {
    run('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir])
  } catch (error) {
    rmSync(dir, { recursive: true, force: true })
    throw new Error(`cannot mount a tmpfs at ${dir}: ${failure(error)}`)
  }
  t.teardown(() => { unmount(dir) })
  return dir
}

/**
 * An ext4 file system of a few megabytes, in an image on a tmpfs, on a loop device; unmounted at
 * teardown. ext4 (unlike tmpfs) refuses writes to a file made immutable, through descriptors
 * already open too.
 */
export function mountExt4 (t: Teardown): string {
  const holder = mountTmpfs(t, '8m')
  const image = join(holder, 'ext4.img')
  const dir = mkdtempSync(join(tmpdir(), 'token-auth-ext4-'))
  try {
    run('truncate', ['-s', '6m', image])
    run('mkfs.ext4', ['-q', '-F', image])
    run('mount', ['-o', 'loop', image, dir])
  } catch (error) {
    rmSync(dir, { recursive: true, force: true })
    throw new Error(`cannot mount an ext4 image on a loop device: ${failure(error)}`)
  }
  // Registered after the tmpfs holding the image: unmounted first.
  t.teardown(() => { unmount(dir) })
  return dir
}

/** Why an ext4 image cannot be mounted on a loop device here, or undefined when it can (tried once, then unmounted). */
export function ext4Impossible (): string | undefined {
  const teardowns: Array<() => unknown> = []
  try {
    mountExt4({ teardown: (fn) => { teardowns.unshift(fn) } })
    return undefined
  } catch (error) {
    return (error as Error).message
  } finally {
    for (const fn of teardowns) fn()
  }
}

/** Remounts a mounted file system read-only (`ro`) or writable again (`rw`). */
export function remount (dir: string, mode: 'ro' | 'rw'): void {
  run('mount', ['-o', `remount,${mode}`, dir])
}

/** Sets or clears the immutable attribute (chattr ±i) of files. */
export function setImmutable (files: string[], immutable: boolean): void {
  run('chattr', [immutable ? '+i' : '-i', ...files])
}

/** Fills the file system of `dir` to the last byte with one file, and returns its path. */
export function fillDisk (dir: string): string {
  const file = join(dir, 'filler')
  const fd = openSync(file, 'w')
  const block = Buffer.alloc(4096)
  try {
    for (let size = block.length; size >= 1; size = Math.floor(size / 2)) {
      try {
        for (;;) writeSync(fd, block, 0, size)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error
      }
    }
  } finally {
    closeSync(fd)
  }
  return file
}
