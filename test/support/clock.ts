// Waits on this machine's clock, for the code under test that reads it (Date.now): a wait ends
// when the clock has reached the moment the code's rule names, never after a guessed sleep.

/** Resolves once Date.now() is past `epochMs`. */
export async function clockPast (epochMs: number): Promise<void> {
  for (let left = epochMs - Date.now(); left >= 0; left = epochMs - Date.now()) {
    await new Promise((resolve) => setTimeout(resolve, left + 1))
  }
}
