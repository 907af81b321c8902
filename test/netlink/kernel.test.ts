/**
 * The netlink layer against the real kernel, in network namespaces this file creates
 * (ftnl-<pid>-<hex>-a, -b, -c) and always removes. Results are compared with what iproute2
 * reports (`ip -j`, `bridge -j`). Needs root.
 */
import { readdirSync, statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AF_BRIDGE, AF_INET, KernelError, NTF_SELF, NUD_PERMANENT, isKernelError, openMonitor, openNetlink,
  type NetlinkChange, type NetlinkHandle,
} from '../../src/netlink/index.ts';
import { run } from '../../lab/harness/exec.ts';
import { isRoot, NetnsSet } from '../../lab/harness/netns.ts';

const nets = new NetnsSet('ftnl');
const nsA = nets.name('a');
const nsB = nets.name('b');

/** What iproute2 prints: the reference our netlink layer is compared with. */
async function sh(cmd: string, ...args: string[]): Promise<string> {
  return (await run([cmd, ...args])).stdout;
}
async function json<T>(cmd: string, ...args: string[]): Promise<T> {
  return JSON.parse((await sh(cmd, ...args)) || '[]') as T;
}

let h: NetlinkHandle;
let ul = 0, vx = 0, br = 0;

async function must(p: Promise<unknown>): Promise<KernelError> {
  try { await p; } catch (e) { if (e instanceof KernelError) return e; throw e; }
  throw new Error('expected a KernelError, the call succeeded');
}

describe.skipIf(!isRoot)('netlink against the kernel', () => {
  beforeAll(async () => {
    await nets.add('a');
    await nets.add('b');
    h = openNetlink({ netns: nsA });
  });
  afterAll(async () => {
    h?.close();
    await nets.removeAll();
  });

  it('creates veth (peer in another netns), bridge and a flannel.1-like vxlan, and lists them like ip -d link', async () => {
    await h.linkAdd({ name: 'ul0', kind: 'veth', peerName: 'ul0p', peerNetns: nsB });
    await h.linkAdd({ name: 'cni0', kind: 'bridge', mtu: 1400, mac: '0a:58:0a:f4:01:01' });
    ul = (await h.linkByName('ul0'))!.index;
    await h.linkSet(ul, { up: true });
    await h.linkAdd({ name: 'flannel.1', kind: 'vxlan', mtu: 1450, vxlan: { vni: 1, local: '198.18.0.2', underlayIndex: ul, port: 8472, learning: false } });
    vx = (await h.linkByName('flannel.1'))!.index;
    br = (await h.linkByName('cni0'))!.index;
    await h.linkSet(vx, { up: true });

    expect(await json<unknown[]>('ip', '-n', nsB, '-j', 'link', 'show', 'ul0p')).toHaveLength(1);
    const ours = (await h.linkList()).filter((l) => l.name !== 'lo');
    const theirs = (await json<{ ifindex: number; ifname: string; mtu: number; address: string; flags: string[]; linkinfo?: { info_kind: string; info_data?: Record<string, unknown> } }[]>('ip', '-n', nsA, '-d', '-j', 'link', 'show'))
      .filter((l) => l.ifname !== 'lo');
    expect(ours.map((l) => ({ index: l.index, name: l.name, kind: l.kind, mtu: l.mtu, mac: l.mac, up: l.up })).sort((a, b) => a.index - b.index))
      .toEqual(theirs.map((l) => ({ index: l.ifindex, name: l.ifname, kind: l.linkinfo?.info_kind ?? '', mtu: l.mtu, mac: l.address, up: l.flags.includes('UP') })).sort((a, b) => a.index - b.index));
    const v = ours.find((l) => l.name === 'flannel.1')!;
    const info = theirs.find((l) => l.ifname === 'flannel.1')!.linkinfo!.info_data!;
    expect(v.vxlan).toEqual({ vni: info.id, local: info.local, underlayIndex: ul, port: info.port, learning: info.learning, gbp: false });
    expect(info).toMatchObject({ id: 1, local: '198.18.0.2', link: 'ul0', port: 8472, learning: false });
    expect((await h.linkByName('cni0'))).toMatchObject({ kind: 'bridge', mtu: 1400, mac: '0a:58:0a:f4:01:01' });
    expect(await h.linkByName('nope0')).toBeUndefined();
    expect(await h.linkByIndex(vx)).toMatchObject({ name: 'flannel.1' });
  });

  it('a dummy device works where the kernel has the driver, and fails with EOPNOTSUPP where not (this CI kernel)', async () => {
    try {
      await h.linkAdd({ name: 'dummy0', kind: 'dummy' });
      expect((await json<{ linkinfo: { info_kind: string } }[]>('ip', '-n', nsA, '-d', '-j', 'link', 'show', 'dummy0'))[0]!.linkinfo.info_kind).toBe('dummy');
      await h.linkDel((await h.linkByName('dummy0'))!.index);
    } catch (e) {
      expect(isKernelError(e)).toBe(true);
      expect((e as KernelError).errno).toBe(95); // EOPNOTSUPP; Node names it ENOTSUP
      await expect(sh('ip', '-n', nsA, 'link', 'add', 'dummy0', 'type', 'dummy')).rejects.toThrow(); // iproute2 agrees
    }
  });

  it('adds addresses and lists them like ip addr', async () => {
    await h.addrAdd({ index: ul, family: AF_INET, address: '198.18.0.2', prefixLen: 24 });
    await h.addrReplace({ index: vx, family: AF_INET, address: '10.244.1.0', prefixLen: 32 });
    await h.addrReplace({ index: vx, family: AF_INET, address: '10.244.1.0', prefixLen: 32 }); // idempotent
    expect((await must(h.addrAdd({ index: ul, family: AF_INET, address: '198.18.0.2', prefixLen: 24 }))).code).toBe('EEXIST');
    const ours = (await h.addrList({ family: AF_INET })).filter((a) => a.index !== 1).map((a) => `${a.address}/${a.prefixLen}@${a.index}`).sort();
    const theirs = (await json<{ ifindex: number; addr_info: { family: string; local: string; prefixlen: number }[] }[]>('ip', '-n', nsA, '-j', 'addr', 'show'))
      .flatMap((l) => l.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}@${l.ifindex}`)).filter((s) => !s.startsWith('127.')).sort();
    expect(ours).toEqual(theirs);
    expect(ours).toEqual(['10.244.1.0/32@' + vx, '198.18.0.2/24@' + ul].sort());
    expect(await h.addrList({ index: vx, family: AF_INET })).toEqual([{ index: vx, family: AF_INET, address: '10.244.1.0', prefixLen: 32, flags: 0x80, scope: 0 }]);
    expect((await h.addrList({ index: vx })).every((a) => a.index === vx)).toBe(true);
  });

  it('adds routes via a gateway, by device and onlink, and lists them like ip route', async () => {
    await h.linkSet(br, { up: true });
    await h.routeAdd({ family: AF_INET, dst: '10.244.3.0/24', gateway: '198.18.0.3', oif: ul });
    await h.routeAdd({ family: AF_INET, dst: '10.244.4.0/24', oif: br });
    await h.routeReplace({ family: AF_INET, dst: '10.244.2.0/24', gateway: '10.244.2.0', oif: vx, onlink: true });
    const ours = (await h.routeList({ family: AF_INET, table: 254 })).filter((r) => r.dst?.startsWith('10.244.'))
      .map((r) => ({ dst: r.dst, gateway: r.gateway, oif: r.oif, onlink: r.onlink === true })).sort((a, b) => a.dst!.localeCompare(b.dst!));
    const theirs = (await json<{ dst: string; gateway?: string; dev: string; flags: string[] }[]>('ip', '-n', nsA, '-j', 'route', 'show', 'table', 'main'))
      .filter((r) => r.dst.startsWith('10.244.'))
      .map((r) => ({ dst: r.dst, gateway: r.gateway, oif: r.dev === 'ul0' ? ul : r.dev === 'cni0' ? br : r.dev === 'flannel.1' ? vx : -1, onlink: r.flags.includes('onlink') }))
      .sort((a, b) => a.dst.localeCompare(b.dst));
    expect(ours).toEqual(theirs);
    expect(ours).toEqual([
      { dst: '10.244.2.0/24', gateway: '10.244.2.0', oif: vx, onlink: true },
      { dst: '10.244.3.0/24', gateway: '198.18.0.3', oif: ul, onlink: false },
      { dst: '10.244.4.0/24', gateway: undefined, oif: br, onlink: false },
    ]);
    expect((await sh('ip', '-n', nsA, 'route', 'show', '10.244.2.0/24')).trim()).toBe('10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink');
    expect(await h.routeList({ family: AF_INET, table: 254, oif: vx })).toHaveLength(1);
    expect((await h.routeList({ oif: vx })).every((r) => r.oif === vx)).toBe(true);
    const got = await h.routeGet('10.244.2.77');
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ dst: '10.244.2.77/32', gateway: '10.244.2.0', oif: vx });
  });

  it('sets a permanent ARP entry and a self FDB entry, listed like ip neigh / bridge fdb', async () => {
    await h.neighSet({ index: vx, family: AF_INET, ip: '10.244.2.0', mac: '0a:58:0a:f4:02:00', state: NUD_PERMANENT });
    await h.neighSet({ index: vx, family: AF_BRIDGE, ip: '198.18.0.3', mac: '0a:58:0a:f4:02:00', state: NUD_PERMANENT, flags: NTF_SELF });
    await h.neighSet({ index: vx, family: AF_BRIDGE, ip: '198.18.0.3', mac: '0a:58:0a:f4:02:00', state: NUD_PERMANENT, flags: NTF_SELF }); // replace
    expect((await sh('ip', '-n', nsA, 'neigh', 'show', 'dev', 'flannel.1')).trim()).toBe('10.244.2.0 lladdr 0a:58:0a:f4:02:00 PERMANENT');
    expect(await json('bridge', '-n', nsA, '-j', 'fdb', 'show', 'dev', 'flannel.1')).toEqual([{ mac: '0a:58:0a:f4:02:00', dst: '198.18.0.3', flags: ['self'], state: 'permanent' }]);
    expect(await h.neighList({ family: AF_INET, index: vx })).toEqual([{ index: vx, family: AF_INET, ip: '10.244.2.0', mac: '0a:58:0a:f4:02:00', state: NUD_PERMANENT, flags: 0 }]);
    expect(await h.neighList({ family: AF_BRIDGE, index: vx })).toEqual([{ index: vx, family: AF_BRIDGE, ip: '198.18.0.3', mac: '0a:58:0a:f4:02:00', state: NUD_PERMANENT, flags: NTF_SELF }]);
  });

  it('reports kernel errors with their errno, the object, and the kernel text', async () => {
    const dup = await must(h.routeAdd({ family: AF_INET, dst: '10.244.3.0/24', gateway: '198.18.0.3', oif: ul }));
    expect(dup.code).toBe('EEXIST');
    expect(dup.message).toContain('RTM_NEWROUTE 10.244.3.0/24 via 198.18.0.3');
    expect((await must(h.routeDel({ family: AF_INET, dst: '10.244.99.0/24' }))).code).toBe('ESRCH');
    expect((await must(h.neighDel({ index: vx, family: AF_INET, ip: '10.244.99.0', state: 0 }))).code).toBe('ENOENT');
    const unreach = await must(h.routeAdd({ family: AF_INET, dst: '10.244.5.0/24', gateway: '10.9.9.9', oif: ul }));
    expect(unreach.code).toBe('ENETUNREACH');
    expect(unreach.extack).toBe('Nexthop has invalid gateway');
    expect((await must(h.linkDel(99999))).code).toBe('ENODEV');
    const bad = await must(h.routeAdd({ family: AF_INET, dst: '10.244.5.0/24', gateway: 'not-an-ip' }));
    expect(bad.code).toBe('EINVAL');
  });

  it('a batch with one bad request reports that one and applies the rest', async () => {
    const b = h.batch()
      .routeAdd({ family: AF_INET, dst: '10.244.10.0/24', gateway: '10.244.10.0', oif: vx, onlink: true })
      .routeAdd({ family: AF_INET, dst: '10.244.11.0/24', gateway: '10.9.9.9', oif: ul })
      .neighSet({ index: vx, family: AF_INET, ip: '10.244.10.0', mac: '0a:58:0a:f4:0a:00', state: NUD_PERMANENT })
      .neighSet({ index: vx, family: AF_INET, ip: '10.244.12.0', mac: 'zz', state: NUD_PERMANENT })
      .routeAdd({ family: AF_INET, dst: '10.244.3.0/24', gateway: '198.18.0.3', oif: ul });
    expect(b.size).toBe(5);
    const res = await b.run();
    expect(res.map((r) => r?.code ?? null)).toEqual([null, 'ENETUNREACH', null, 'EINVAL', 'EEXIST']);
    expect(res[1]!.target).toBe('10.244.11.0/24 via 10.9.9.9 dev ' + ul);
    expect((await sh('ip', '-n', nsA, 'route', 'show', '10.244.10.0/24')).trim()).toBe('10.244.10.0/24 via 10.244.10.0 dev flannel.1 onlink');
    expect((await sh('ip', '-n', nsA, 'route', 'show', '10.244.11.0/24')).trim()).toBe('');
    expect((await sh('ip', '-n', nsA, 'neigh', 'show', '10.244.10.0', 'dev', 'flannel.1')).trim()).toBe('10.244.10.0 lladdr 0a:58:0a:f4:0a:00 PERMANENT');
  });

  it('a batch of 3000 routes is applied in chunks and read back by a multipart dump', async () => {
    const b = h.batch();
    for (let i = 0; i < 3000; i++) {
      const gw = `10.244.${128 + (i >> 5)}.${(i & 31) << 3}`;
      b.routeReplace({ family: AF_INET, dst: `${gw}/29`, gateway: gw, oif: vx, onlink: true });
    }
    const res = await b.run();
    expect(res.filter((r) => r !== null)).toEqual([]);
    const ours = await h.routeList({ family: AF_INET, table: 254, oif: vx });
    const theirs = (await sh('ip', '-n', nsA, 'route', 'show', 'dev', 'flannel.1')).trim().split('\n');
    expect(ours.length).toBe(theirs.length);
    expect(ours.length).toBe(3002); // + 10.244.2.0/24 and 10.244.10.0/24
    const del = h.batch();
    for (const r of ours) if (r.dst!.endsWith('/29')) del.routeDel(r);
    expect((await del.run()).filter((r) => r !== null)).toEqual([]);
    expect(await h.routeList({ family: AF_INET, table: 254, oif: vx })).toHaveLength(2);
  });

  it('the monitor reports deletions made by ip within a second', async () => {
    const seen: NetlinkChange[] = [];
    let wake: (() => void) | undefined;
    const mon = openMonitor({ netns: nsA, groups: ['link', 'route', 'neigh'] }, (c) => { seen.push(c); wake?.(); });
    const waitFor = async (pred: (c: NetlinkChange) => boolean): Promise<NetlinkChange> => {
      const deadline = Date.now() + 1000;
      for (;;) {
        const hit = seen.find(pred);
        if (hit !== undefined) return hit;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no matching change within 1 s; saw ${JSON.stringify(seen)}`);
        await new Promise<void>((r) => { wake = r; setTimeout(r, left); });
      }
    };
    try {
      await sh('ip', '-n', nsA, 'route', 'del', '10.244.2.0/24');
      expect(await waitFor((c) => c.kind === 'route' && c.deleted)).toMatchObject({ kind: 'route', deleted: true, route: { dst: '10.244.2.0/24', gateway: '10.244.2.0', oif: vx } });
      await sh('ip', '-n', nsA, 'neigh', 'del', '10.244.2.0', 'dev', 'flannel.1');
      expect(await waitFor((c) => c.kind === 'neigh' && c.deleted)).toMatchObject({ neigh: { family: AF_INET, ip: '10.244.2.0', index: vx } });
      await sh('bridge', '-n', nsA, 'fdb', 'del', '0a:58:0a:f4:02:00', 'dev', 'flannel.1', 'dst', '198.18.0.3', 'self');
      expect(await waitFor((c) => c.kind === 'neigh' && c.deleted && c.neigh.family === AF_BRIDGE)).toMatchObject({ neigh: { mac: '0a:58:0a:f4:02:00', ip: '198.18.0.3' } });
      await sh('ip', '-n', nsA, 'link', 'del', 'cni0');
      expect(await waitFor((c) => c.kind === 'link' && c.deleted)).toMatchObject({ link: { name: 'cni0', index: br } });
    } finally {
      mon.close();
    }
  });

  it('the monitor reports an overflow when it cannot keep up', async () => {
    let overflows = 0, changes = 0;
    const mon = openMonitor({ netns: nsA, groups: ['route'], rcvbuf: 4096, onOverflow: () => { overflows++; } }, () => { changes++; });
    try {
      const b = h.batch();
      for (let i = 0; i < 500; i++) b.routeReplace({ family: AF_INET, dst: `10.244.200.${i & 255}/32`, oif: vx, table: 100 + (i >> 8) });
      expect((await b.run()).filter((r) => r !== null)).toEqual([]);
      const deadline = Date.now() + 1000;
      while (overflows === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(overflows).toBeGreaterThan(0);
      expect(changes).toBeLessThan(500);
    } finally {
      mon.close();
    }
  });

  it('a batch puts a veth peer into another netns and keeps no fd of that netns open once it has run', async () => {
    expect(await h.batch().linkAdd({ name: 'ul1', kind: 'veth', peerName: 'ul1p', peerNetns: nsB }).run()).toEqual([null]);
    expect(await json<unknown[]>('ip', '-n', nsB, '-j', 'link', 'show', 'ul1p')).toHaveLength(1);
    // Any fd of this process that is the namespace file itself (same device and inode).
    const ns = statSync(`/run/netns/${nsB}`);
    const open = readdirSync('/proc/self/fd').filter((fd) => {
      try { const st = statSync(`/proc/self/fd/${fd}`); return st.ino === ns.ino && st.dev === ns.dev; } catch { return false; }
    });
    expect(open).toEqual([]);
  });
});

describe.skipIf(!isRoot)('batch acks that overflow the receive queue', () => {
  const ns = nets.name('c');
  afterAll(() => nets.removeAll());

  it('reports ENOBUFS (outcome unknown) for requests whose ack was lost, the rest as applied, and never hangs', async () => {
    await nets.add('c');
    const { NlSocket } = await import('../../src/netlink/socket.ts');
    const { Batch } = await import('../../src/netlink/batch.ts');
    const setup = openNetlink({ netns: ns });
    await setup.linkAdd({ name: 'br0', kind: 'bridge' });
    const dev = (await setup.linkByName('br0'))!.index;
    await setup.linkSet(dev, { up: true });
    // A queue of a few KiB holds only a handful of acks; the batch must not trust its estimate.
    const sock = new NlSocket({ netns: ns, rcvbuf: 1 });
    sock.rcvbufBytes = 64 * 1024 * 1024; // pretend it is big, so chunks overflow
    const b = new Batch(sock);
    for (let i = 0; i < 2000; i++) b.routeReplace({ family: AF_INET, dst: `10.244.${i >> 8}.${i & 255}/32`, oif: dev });
    const res = await b.run();
    const codes = new Set(res.map((r) => r?.code ?? 'ok'));
    expect([...codes].sort()).toEqual(['ENOBUFS', 'ok']);
    // The kernel applied every request; only the acks were lost.
    expect((await sh('ip', '-n', ns, 'route', 'show', 'dev', 'br0')).trim().split('\n')).toHaveLength(2000);
    sock.close();
    setup.close();
  });
});
