import type { ErrnoError } from '../util/errors.ts';

/**
 * What the native addon throws when a system call fails (native/src/addon.h): an Error named
 * 'NativeError'. Match it with isErrno (src/util/errors.ts), like netlink's KernelError.
 * Wrong arguments throw a TypeError instead (code ERR_INVALID_ARG_TYPE or ERR_INVALID_ARG_VALUE,
 * the message naming the function and the argument): a programming error, not a failure.
 */
export interface NativeError extends ErrnoError {
  readonly name: 'NativeError';
  /** Positive errno, e.g. 16. */
  readonly errno: number;
  /** Its name, e.g. 'EBUSY'. */
  readonly code: string;
  /** The system call or request that failed, e.g. 'TUNSETIFF', 'bind'. */
  readonly op: string;
  /** What it was about, e.g. 'flannel0', '198.18.0.2:8285'; '' when nothing more is known. */
  readonly target: string;
}
