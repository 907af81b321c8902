import type { Logger } from '../../observe/log.ts';
import { AF_BRIDGE, type Neigh, type NetlinkBatch, type Route } from '../../netlink/types.ts';
import type { PlannedOp } from './apply-ops.ts';

/*
 * One log line per kernel change a reconcile made, in upstream flanneld's words where it has
 * them (pkg/backend/vxlan/device.go logs `calling AddFDB: <ip>, <mac>` at V(4);
 * pkg/backend/route_network.go warns `Replacing existing route to …`), at the matching
 * verbosity: ARP and FDB entries at trace (-v 4), routes at debug (-v 1), a replaced route at
 * info. Nothing is formatted unless the level is on.
 */

/** A batch that only remembers the route or neighbour queued into it: what an op's closure would send. */
class Recorder implements NetlinkBatch {
  route: Route | undefined;
  neigh: Neigh | undefined;
  readonly size = 0;
  linkAdd(): this { return this; }
  linkDel(): this { return this; }
  linkSet(): this { return this; }
  addrAdd(): this { return this; }
  addrReplace(): this { return this; }
  addrDel(): this { return this; }
  routeAdd(r: Route): this { this.route = r; return this; }
  routeReplace(r: Route): this { this.route = r; return this; }
  routeDel(r: Route): this { this.route = r; return this; }
  neighSet(n: Neigh): this { this.neigh = n; return this; }
  neighDel(n: Neigh): this { this.neigh = n; return this; }
  run(): Promise<never[]> { return Promise.resolve([]); }
}

function recorded(op: PlannedOp): Recorder {
  const r = new Recorder();
  op.queue(r);
  return r;
}

function routeText(r: Route): string {
  return `${r.dst ?? 'default'}${r.gateway !== undefined ? ` via ${r.gateway}` : ''}${r.oif !== undefined ? ` ifindex ${r.oif}` : ''}${r.onlink === true ? ' onlink' : ''}`;
}

export function logAppliedOp(log: Logger, op: PlannedOp): void {
  const fields = { node: op.node ?? '', subnet: op.subnet ?? '' };
  if (op.type === 'route') {
    const level = op.action === 'replace' ? 'info' : 'debug';
    if (!log.isLevelEnabled(level)) return;
    const r = recorded(op).route;
    if (r === undefined) return;
    const text = routeText(r);
    if (op.action === 'replace') log.info(fields, `Replacing existing route to ${r.dst ?? 'default'} with ${text}`);
    else log.debug(fields, op.action === 'create' ? `Route added: ${text}` : `Route deleted: ${text}`);
    return;
  }
  if (!log.isLevelEnabled('trace')) return;
  const n = recorded(op).neigh;
  if (n === undefined) return;
  const kind = n.family === AF_BRIDGE ? 'FDB' : 'ARP';
  log.trace(fields, `calling ${op.action === 'delete' ? 'Del' : 'Add'}${kind}: ${n.ip ?? ''}, ${n.mac ?? ''}`);
}
