import { release } from 'node:os';

/** A kernel version as uname reports it: 5.4.0-150-generic → [5, 4, 0]. */
export interface KernelVersion {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  /** The release string as given. */
  readonly text: string;
}

/** Parses the leading `major.minor[.patch]` of a kernel release; undefined when there is none. */
export function parseKernelRelease(text: string): KernelVersion | undefined {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(text.trim());
  if (m === null) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3] ?? 0), text: text.trim() };
}

/** The running kernel (os.release()). */
export function runningKernel(): KernelVersion | undefined {
  return parseKernelRelease(release());
}

/** True when `v` is older than major.minor. */
export function olderThan(v: KernelVersion, major: number, minor: number): boolean {
  return v.major < major || (v.major === major && v.minor < minor);
}
