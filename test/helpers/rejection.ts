// One helper for the tests that expect a promise to reject with a given error class.

/** The error `p` rejects with, when it is an `ErrorClass`; fails the test otherwise. */
export async function rejection<E extends Error> (p: Promise<unknown>, ErrorClass: new (...args: never[]) => E): Promise<E> {
  try {
    await p
  } catch (err) {
    if (err instanceof ErrorClass) return err
    throw err
  }
  throw new Error(`expected a rejection with ${ErrorClass.name}`)
}
