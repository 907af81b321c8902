/**
 * The netlink layer: `openNetlink()` for lists and changes, `openMonitor()` for notifications.
 * Types and a few constants come from types.ts; errors from errors.ts.
 */
import { Handle } from './handle.ts';
import type { NetlinkHandle } from './types.ts';

export * from './types.ts';
export { KernelError, isKernelError, NetlinkDecodeError, type Errno } from './errors.ts';
export { openMonitor, type MonitorGroup, type MonitorOptions } from './monitor.ts';

/** A netlink route socket in this process's netns, or in `netns` (a /run/netns name or a path). */
export function openNetlink(opts?: { netns?: string }): NetlinkHandle {
  return new Handle({ netns: opts?.netns });
}
