/** A startup failure upstream exits 1 for; the message is the one line the operator reads. */
export class FatalError extends Error {
  override readonly name = 'FatalError';
}
