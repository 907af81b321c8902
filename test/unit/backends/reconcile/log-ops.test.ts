import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../../src/observe/log.ts';
import { AF_BRIDGE, AF_INET } from '../../../../src/netlink/types.ts';
import type { PlannedOp } from '../../../../src/backends/reconcile/apply-ops.ts';
import { logAppliedOp } from '../../../../src/backends/reconcile/log-ops.ts';

function capture(level: 'info' | 'debug' | 'trace') {
  const lines: { level: number; msg: string; node: string }[] = [];
  const log = createLogger({ level, format: 'json', destination: { write: (l: string) => (lines.push(JSON.parse(l)), true) } as unknown as NodeJS.WritableStream });
  return { log, lines };
}

const MAC = '0a:58:0a:f4:02:00';
const ops: PlannedOp[] = [
  { action: 'create', type: 'neigh', subnet: '10.244.2.0/24', node: 'node2', queue: (b) => b.neighSet({ index: 5, family: AF_INET, ip: '10.244.2.0', mac: MAC, state: 0x80 }) },
  { action: 'create', type: 'fdb', subnet: '10.244.2.0/24', node: 'node2', queue: (b) => b.neighSet({ index: 5, family: AF_BRIDGE, ip: '198.18.0.12', mac: MAC, state: 0x80 }) },
  { action: 'create', type: 'route', subnet: '10.244.2.0/24', node: 'node2', queue: (b) => b.routeReplace({ family: AF_INET, dst: '10.244.2.0/24', gateway: '10.244.2.0', oif: 5, onlink: true }) },
  { action: 'replace', type: 'route', subnet: '10.244.3.0/24', node: 'node3', queue: (b) => b.routeReplace({ family: AF_INET, dst: '10.244.3.0/24', gateway: '198.18.0.13', oif: 2 }) },
  { action: 'delete', type: 'fdb', subnet: undefined, node: undefined, queue: (b) => b.neighDel({ index: 5, family: AF_BRIDGE, ip: '198.18.0.14', mac: MAC, state: 0x80 }) },
  { action: 'delete', type: 'route', subnet: undefined, node: undefined, queue: (b) => b.routeDel({ family: AF_INET, dst: '10.244.4.0/24', gateway: '10.244.4.0', oif: 5, onlink: true }) },
];

describe('logAppliedOp', () => {
  it("names each kernel change in upstream's words, at upstream's verbosity", () => {
    const { log, lines } = capture('trace');
    for (const op of ops) logAppliedOp(log, op);
    expect(lines.map((l) => [l.level, l.msg, l.node])).toEqual([
      [10, `calling AddARP: 10.244.2.0, ${MAC}`, 'node2'],
      [10, `calling AddFDB: 198.18.0.12, ${MAC}`, 'node2'],
      [20, 'Route added: 10.244.2.0/24 via 10.244.2.0 ifindex 5 onlink', 'node2'],
      [30, 'Replacing existing route to 10.244.3.0/24 with 10.244.3.0/24 via 198.18.0.13 ifindex 2', 'node3'],
      [10, `calling DelFDB: 198.18.0.14, ${MAC}`, ''],
      [20, 'Route deleted: 10.244.4.0/24 via 10.244.4.0 ifindex 5 onlink', ''],
    ]);
  });

  it('at the default level only a replaced route is logged', () => {
    const { log, lines } = capture('info');
    for (const op of ops) logAppliedOp(log, op);
    expect(lines.map((l) => l.msg)).toEqual(['Replacing existing route to 10.244.3.0/24 with 10.244.3.0/24 via 198.18.0.13 ifindex 2']);
  });
});
