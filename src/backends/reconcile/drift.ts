import type { NetlinkChange } from '../../netlink/types.ts';
import type { DriftMonitor, OpenDriftMonitor } from '../context.ts';

/**
 * Opens a backend's drift monitor: every notification `reasonOf` recognises as "something of
 * ours changed" kicks a reconcile with that reason; an overflow (notifications lost) kicks
 * too. Undefined when the backend was built without a monitor (the resync still repairs).
 */
export function openDrift(
  open: OpenDriftMonitor | undefined,
  reasonOf: (c: NetlinkChange) => string | undefined,
  kick: (why: string) => void,
): DriftMonitor | undefined {
  if (open === undefined) return undefined;
  return open(
    (c) => {
      const why = reasonOf(c);
      if (why !== undefined) kick(why);
    },
    () => kick('netlink monitor overflow'),
  );
}
