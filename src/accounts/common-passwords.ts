// Passwords on a list of common and breached ones are refused wherever a new password is set
// (OWASP ASVS 5.0 6.2.4): the list of @zxcvbn-ts/language-common, loaded on first use and kept
// in memory as a set, compared ignoring letter case. A login never checks it.

/** The `msg` of a new password on the list. */
export const COMMON_PASSWORD_PROBLEM = 'This password is too common'

let common: Promise<ReadonlySet<string>> | undefined

function load (): Promise<ReadonlySet<string>> {
  common ??= import('@zxcvbn-ts/language-common').then(({ dictionary }) =>
    new Set((dictionary['passwords-common'] as string[]).map((password) => password.toLowerCase())))
  return common
}

/** Whether `password` is on the list, ignoring letter case. */
export async function isCommonPassword (password: string): Promise<boolean> {
  return (await load()).has(password.toLowerCase())
}
