/**
 * Network namespaces by name or path, and the fds the kernel takes for them
 * (IFLA_NET_NS_FD). The encoders never open files: whoever sends a request opens the
 * namespace, passes the fd to the encoder, and closes it once the kernel has answered.
 */
import { closeSync, openSync } from 'node:fs';

/** A netns given as a name under /run/netns or as a path. */
export function netnsPath(ns: string): string {
  return ns.includes('/') ? ns : `/run/netns/${ns}`;
}

/** Opens the namespace `ns` (read-only, as `ip` does); the caller closes the fd with closeNetns. */
export function openNetns(ns: string): number {
  return openSync(netnsPath(ns), 'r');
}

export function closeNetns(fd: number): void {
  closeSync(fd);
}

/** Runs `fn` with an fd of the namespace `ns` (none when `ns` is undefined) and closes it after. */
export async function withNetnsFd<T>(ns: string | undefined, fn: (fd: number | undefined) => Promise<T>): Promise<T> {
  if (ns === undefined) return fn(undefined);
  const fd = openNetns(ns);
  try {
    return await fn(fd);
  } finally {
    closeNetns(fd);
  }
}
