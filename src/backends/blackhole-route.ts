import { errorText } from '../util/errors.ts';
import { familyOf, formatAnyCidr, type IpCidr } from '../ip/cidr.ts';
import { RTN_BLACKHOLE, type NetlinkHandle } from '../netlink/types.ts';
import { afOf } from './reconcile/peer-routes.ts';
import type { Logger } from '../observe/log.ts';

/**
 * --ip-blackhole-route (for Canal): keeps `blackhole <own subnet>` (one per family) in the main table until
 * `signal` aborts. As upstream's main.go does, the route is written every `periodMs`, the first
 * time after one period, and a failure is logged and retried at the next period.
 */
export function keepBlackholeRoute(nl: NetlinkHandle, subnet: IpCidr, periodMs: number, log: Logger, signal: AbortSignal): void {
  const dst = formatAnyCidr(subnet);
  const timer = setInterval(() => {
    nl.routeReplace({ family: afOf(familyOf(subnet)), dst, type: RTN_BLACKHOLE }).catch((e: unknown) =>
      log.error(`Failed to add blackhole route for ${dst}: ${errorText(e)}`),
    );
  }, periodMs);
  signal.addEventListener('abort', () => clearInterval(timer), { once: true });
}
