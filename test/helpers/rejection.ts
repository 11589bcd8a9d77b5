// One helper for the tests that expect a promise to reject: the reason it rejects with, or an
// error of a given class.

/** The reason `p` rejects with; fails the test if it resolves. */
export async function rejection (p: Promise<unknown>): Promise<unknown>
/** The error `p` rejects with, when it is an `ErrorClass`; fails the test otherwise. */
export async function rejection<E extends Error> (p: Promise<unknown>, ErrorClass: new (...args: never[]) => E): Promise<E>
export async function rejection (p: Promise<unknown>, ErrorClass?: new (...args: never[]) => Error): Promise<unknown> {
  try {
    await p
  } catch (err) {
    if (ErrorClass === undefined || err instanceof ErrorClass) return err
    throw err
  }
  throw new Error(`expected a rejection${ErrorClass === undefined ? '' : ` with ${ErrorClass.name}`}`)
}
