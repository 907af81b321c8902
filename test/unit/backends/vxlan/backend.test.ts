import { describe, expect, it } from 'vitest';
import { KernelError } from '../../../../src/netlink/errors.ts';
import type { Addr, Link, NetlinkBatch, NetlinkHandle, Neigh, Route } from '../../../../src/netlink/types.ts';
import { AF_INET } from '../../../../src/netlink/types.ts';
import { parseCidr } from '../../../../src/ip/ipv4.ts';
import { silentLogger } from '../../../../src/observe/log.ts';
import type { Lease } from '../../../../src/subnet/lease.ts';
import type { Backend } from '../../../../src/backends/backend.ts';
import { VxlanBackend } from '../../../../src/backends/vxlan/backend.ts';
import { formatVxlanBackendData } from '../../../../src/backends/vxlan/mac.ts';

/**
 * A scripted handle: an adopted flannel.1 with its address, empty neighbour/route tables,
 * and batches that record their requests and fail the ones `failWhen` picks.
 */
function scripted(failWhen: (op: string, obj: unknown) => string | undefined) {
  const dev: Link = {
    index: 7, name: 'flannel.1', kind: 'vxlan', mtu: 1450, up: true, lowerUp: true, mac: '0a:00:00:00:00:01',
    vxlan: { vni: 1, local: '198.18.0.11', underlayIndex: 2, port: 8472, learning: false, gbp: false },
  };
  const eth0: Link = { index: 2, name: 'eth0', kind: 'veth', mtu: 1500, up: true, lowerUp: true, mac: '0a:00:00:00:00:02' };
  const batches: string[][] = [];
  const handle = {
    linkByName: async (name: string) => (name === 'flannel.1' ? dev : name === 'eth0' ? eth0 : undefined),
    addrList: async (): Promise<Addr[]> => [{ index: 7, family: AF_INET, address: '10.244.1.0', prefixLen: 32 }],
    neighList: async (): Promise<Neigh[]> => [],
    routeList: async (): Promise<Route[]> => [],
    batch(): NetlinkBatch {
      const ops: [string, unknown][] = [];
      const record = (op: string) => (obj: unknown) => {
        ops.push([op, obj]);
        return b;
      };
      const b = {
        neighSet: record('neighSet'), neighDel: record('neighDel'), routeReplace: record('routeReplace'), routeDel: record('routeDel'),
        routeAdd: record('routeAdd'), addrAdd: record('addrAdd'), addrDel: record('addrDel'), addrReplace: record('addrReplace'),
        linkAdd: record('linkAdd'), linkDel: record('linkDel'), linkSet: record('linkSet'),
        get size() { return ops.length; },
        run: async () => {
          batches.push(ops.map(([op, o]) => `${op} ${label(o)}`));
          return ops.map(([op, o]) => {
            const code = failWhen(op, o);
            return code === undefined ? null : new KernelError(code === 'ENOBUFS' ? 105 : 22, op, label(o));
          });
        },
      };
      return b as unknown as NetlinkBatch;
    },
  };
  return { nl: handle as unknown as NetlinkHandle, batches };
}

function label(o: unknown): string {
  const x = o as Partial<Neigh & Route>;
  return x.dst ?? ((x.family as number) === 7 ? `fdb ${x.mac}` : x.ip ?? '?');
}

const peer = (n: number): [string, Lease] => {
  const subnet = `10.244.${n}.0/24`;
  return [subnet, { subnet: parseCidr(subnet)!, node: `node${n}`, attrs: { publicIp: `198.18.0.${10 + n}`, backendType: 'vxlan', backendData: formatVxlanBackendData(1, `0a:00:00:00:0${n}:0${n}`) } }];
};

async function backendWith(nl: NetlinkHandle): Promise<Backend> {
  const b: Backend = new VxlanBackend(
    { nl, ext: { name: 'eth0', index: 2, mtu: 1500, ifaceAddr: '198.18.0.11', extAddr: '198.18.0.11' }, network: parseCidr('10.244.0.0/16')!, stored: {}, log: silentLogger() },
    { type: 'vxlan', vni: 1, port: 0, mtu: 0, gbp: false, learning: false, directRouting: false },
  );
  await b.prepare(new AbortController().signal);
  return b;
}

const own: Lease = { subnet: parseCidr('10.244.1.0/24')!, attrs: { publicIp: '198.18.0.11', backendType: 'vxlan', backendData: 'null' } };

describe('VxlanBackend.reconcile (scripted kernel)', () => {
  it('sends every change of a run in one batch, neighbours then fdb then routes', async () => {
    const { nl, batches } = scripted(() => undefined);
    const b = await backendWith(nl);
    const r = await b.reconcile({ generation: 1, network: parseCidr('10.244.0.0/16')!, own, peers: new Map([peer(2), peer(3)]) }, new AbortController().signal);
    expect(r).toMatchObject({ created: 6, failed: [] });
    expect(batches).toEqual([[
      'neighSet 10.244.2.0', 'neighSet 10.244.3.0',
      'neighSet fdb 0a:00:00:00:02:02', 'neighSet fdb 0a:00:00:00:03:03',
      'routeReplace 10.244.2.0/24', 'routeReplace 10.244.3.0/24',
    ]]);
  });

  it('reports a failed peer by node, keeps the others, and takes back the route of a peer whose fdb failed', async () => {
    const { nl, batches } = scripted((op, o) => (op === 'neighSet' && (o as Neigh).mac === '0a:00:00:00:03:03' && ((o as Neigh).family as number) === 7 ? 'ENOBUFS' : undefined));
    const b = await backendWith(nl);
    const r = await b.reconcile({ generation: 1, network: parseCidr('10.244.0.0/16')!, own, peers: new Map([peer(2), peer(3)]) }, new AbortController().signal);
    expect(r.failed.map((f) => `${f.node} ${f.subnet} ${(f.error as KernelError).code}`)).toEqual(['node3 10.244.3.0/24 ENOBUFS']);
    expect(r).toMatchObject({ created: 5 });
    expect(batches[1]).toEqual(['routeDel 10.244.3.0/24']);
  });
});
