import { errorText } from '../util/errors.ts';
import { formatCidr, type Ipv4Cidr } from '../ip/ipv4.ts';
import { AF_INET, RTN_BLACKHOLE, type NetlinkHandle } from '../netlink/types.ts';
import type { Logger } from '../observe/log.ts';

/**
 * --ip-blackhole-route (for Canal): keeps `blackhole <own subnet>` in the main table until
 * `signal` aborts. As upstream's main.go does, the route is written every `periodMs`, the first
 * time after one period, and a failure is logged and retried at the next period.
 */
export function keepBlackholeRoute(nl: NetlinkHandle, subnet: Ipv4Cidr, periodMs: number, log: Logger, signal: AbortSignal): void {
  const timer = setInterval(() => {
    nl.routeReplace({ family: AF_INET, dst: formatCidr(subnet), type: RTN_BLACKHOLE }).catch((e: unknown) =>
      log.error(`Failed to add blackhole route for ${formatCidr(subnet)}: ${errorText(e)}`),
    );
  }, periodMs);
  signal.addEventListener('abort', () => clearInterval(timer), { once: true });
}
