import { getSystemErrorName } from 'node:util';

/** A request the kernel refused; one class for every netlink, ioctl or socket failure. */
export class KernelError extends Error {
  override readonly name = 'KernelError';
  /** Positive kernel errno, e.g. 17. */
  readonly errno: number;
  /** Node-style name, e.g. 'EEXIST': compare this, not the number. */
  readonly code: string;
  /** The request, e.g. 'RTM_NEWNEIGH'. */
  readonly op: string;
  /** What it was about, e.g. 'fdb 0a:58:0a:f4:03:00 dst 198.18.0.3 dev flannel.1'. */
  readonly target: string;
  /** The kernel's own words (NLMSGERR_ATTR_MSG), when sent. */
  readonly extack: string | undefined;

  constructor(errno: number, op: string, target: string, extack?: string) {
    const code = errnoName(errno);
    super(`${op} ${target}: ${code}${extack === undefined ? '' : ` (${extack})`}`);
    this.errno = errno;
    this.code = code;
    this.op = op;
    this.target = target;
    this.extack = extack;
  }
}

export type Errno = 'EEXIST' | 'ENOENT' | 'ENODEV' | 'EBUSY' | 'EPERM' | 'EINTR' | 'ENETUNREACH' | 'ESRCH' | 'EINVAL' | 'EAGAIN' | 'ENOBUFS';

export function isKernelError(e: unknown, code?: Errno): e is KernelError {
  return e instanceof KernelError && (code === undefined || e.code === code);
}

function errnoName(errno: number): string {
  try {
    return getSystemErrorName(-Math.abs(errno));
  } catch {
    return `errno ${errno}`;
  }
}

/**
 * Bytes from the kernel (or a test) that do not parse as netlink: a length that runs past the
 * end, an attribute shorter than its header, a fixed header cut short. Never a crash.
 */
export class NetlinkDecodeError extends Error {
  override readonly name = 'NetlinkDecodeError';
  /** Byte offset in the buffer where parsing failed. */
  readonly offset: number;
  constructor(what: string, offset: number) {
    super(`malformed netlink data at byte ${offset}: ${what}`);
    this.offset = offset;
  }
}
