/**
 * Matching and showing errors.
 *
 * Every failed system call or kernel request that reaches TypeScript carries `errno` (a number)
 * and `code` (its name, e.g. 'ENOBUFS'): the native addon's NativeError
 * (src/native/errors.ts), netlink's KernelError and Node's own system errors (fs, net,
 * child_process) alike, so callers match all of them with {@link isErrno}.
 */

/** A failed system call or kernel request. */
export interface ErrnoError extends Error {
  /** Positive from the addon and netlink; Node's own errors carry libuv's negative numbers. */
  readonly errno: number;
  /** The errno's name, e.g. 'EEXIST': compare this, not the number. */
  readonly code: string;
}

/** True when `e` is a failed system call or kernel request, and (when given) one of `codes`. */
export function isErrno(e: unknown, ...codes: readonly string[]): e is ErrnoError {
  if (!(e instanceof Error)) return false;
  const { errno, code } = e as Partial<ErrnoError>;
  return typeof errno === 'number' && typeof code === 'string' && (codes.length === 0 || codes.includes(code));
}

/** Longest rendering of a thrown non-Error object, so a log line stays a line. */
const MAX_RENDERED = 1000;

/**
 * One line of text for anything thrown: an Error's message (its name when the message is
 * empty, the inner messages of an AggregateError), a string as it is, an object with a string
 * `message` by that message, anything else as JSON or String(). Never throws.
 */
export function errorText(e: unknown): string {
  try {
    if (e instanceof Error) {
      if (e.message !== '') return e.message;
      if (e instanceof AggregateError && e.errors.length > 0) return e.errors.map(errorText).join('; ');
      return e.name;
    }
    if (typeof e === 'string') return e;
    if (typeof e === 'object' && e !== null) {
      const message = (e as { message?: unknown }).message;
      if (typeof message === 'string' && message !== '') return message;
      const json = JSON.stringify(e);
      if (json !== undefined) return json.length > MAX_RENDERED ? `${json.slice(0, MAX_RENDERED)}…` : json;
    }
    if (typeof e === 'function') return `[function ${e.name || 'anonymous'}]`;
    return String(e);
  } catch {
    // A cycle or a BigInt in JSON.stringify, a throwing getter, an object without toString.
    try {
      return String(e);
    } catch {
      return `[unprintable ${typeof e}]`;
    }
  }
}
