/**
 * The etcd subnet manager against a real etcd on loopback: exact keys, values and TTLs,
 * upstream's acquisition order, reservations, the creation race, "out of subnets", renewal, the
 * peer watch (snapshot, changes, TTL expiry, compaction, etcd restart) and the own lease deleted.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { formatCidr } from '../../src/ip/ipv4.ts';
import { formatCidr6, parseCidr6 } from '../../src/ip/ipv6.ts';
import { leaseSubnets } from '../../src/subnet/lease.ts';
import { EtcdClient } from '../../src/subnet/etcd/client.ts';
import { configNotFoundMessage, readEtcdNetConf } from '../../src/subnet/etcd/config.ts';
import { etcdSkip, startEtcd, startRelay, type EtcdServer } from './etcd-server.ts';
import { cidr, eventSink, hostGwAttrs, managerFactory, parseEtcdctlJson, rangeOf, udpAttrs, until, vxlanAttrs } from './helpers.ts';

const never = new AbortController().signal;
const keyOf = (prefix: string, subnet: string): string => `${prefix}/subnets/${subnet.replace('/', '-')}`;

describe.skipIf(etcdSkip.skip)(`etcd subnet manager against a real etcd${etcdSkip.why ? ` (skipped: ${etcdSkip.why})` : ''}`, () => {
  let etcd: EtcdServer;
  const f = managerFactory(() => etcd.endpoint);
  let n = 0;
  const newPrefix = (): string => `/t${++n}/network`;
  const get = async (prefix: string) => parseEtcdctlJson((await etcd.etcdctl(['get', '--prefix', `${prefix}/`, '-w', 'json'])).stdout);
  const put = (key: string, value: string, ...flags: string[]) => etcd.etcdctl(['put', ...flags, key, value]);
  const revisionNow = async (): Promise<number> => {
    const s = JSON.parse((await etcd.etcdctl(['endpoint', 'status', '-w', 'json'])).stdout) as { Status: { header: { revision: number } } }[];
    return s[0]!.Status.header.revision;
  };

  beforeAll(async () => {
    etcd = await startEtcd();
  });
  afterEach(() => f.closeAll());
  afterAll(async () => {
    await etcd?.destroy();
  });

  it("writes <prefix>/subnets/<ip>-<len> with upstream's exact value, in a 24 h etcd lease, for vxlan, host-gw and udp", async () => {
    const p = newPrefix();
    const cases = [
      [vxlanAttrs('198.18.0.10'), '{"PublicIP":"198.18.0.10","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:01"}}'],
      [hostGwAttrs('198.18.0.11'), '{"PublicIP":"198.18.0.11","PublicIPv6":null,"BackendType":"host-gw"}'],
      [udpAttrs('198.18.0.12'), '{"PublicIP":"198.18.0.12","PublicIPv6":null}'],
    ] as const;
    const expected = new Map<string, string>();
    for (const [attrs, value] of cases) {
      const m = f.make(p).manager;
      const lease = await m.acquireLease(attrs, never);
      expect(lease.subnet!.prefixLen).toBe(24);
      expect(lease.subnet!.ip).toBeGreaterThanOrEqual(cidr('10.5.128.0/24').ip);
      const key = keyOf(p, formatCidr(lease.subnet!));
      expect(m.leaseKey).toBe(key);
      expected.set(key, value);
    }
    const stored = await get(p);
    expect(new Map([...stored].map(([k, v]) => [k, v.value]))).toEqual(expected);
    for (const kv of stored.values()) {
      const ttl = await etcd.etcdctl(['lease', 'timetolive', BigInt(kv.lease).toString(16)]);
      expect(ttl.stdout).toMatch(/granted with TTL\(86400s\)/);
    }
  });

  it('reuses the lease of its PublicIP after a restart: same key, same create revision, a fresh etcd lease, the new value', async () => {
    const p = newPrefix();
    const first = f.make(p);
    const lease = await first.manager.acquireLease(vxlanAttrs('198.18.0.10', 'aa:bb:cc:dd:ee:01'), never);
    const key = keyOf(p, formatCidr(lease.subnet!));
    const before = (await get(p)).get(key)!;
    first.manager.close();

    const second = f.make(p);
    const again = await second.manager.acquireLease(vxlanAttrs('198.18.0.10', 'aa:bb:cc:dd:ee:02'), never);
    expect(formatCidr(again.subnet!)).toBe(formatCidr(lease.subnet!));
    const after = await get(p);
    expect([...after.keys()]).toEqual([key]);
    expect(after.get(key)!.createRevision).toBe(before.createRevision);
    expect(after.get(key)!.lease).not.toBe(before.lease);
    expect(after.get(key)!.value).toBe('{"PublicIP":"198.18.0.10","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:02"}}');
    expect(second.lines).toContain(`Found lease (ip: ${formatCidr(lease.subnet!)} ipv6: <nil>) for current IP (198.18.0.10), reusing`);
  });

  it('deletes a lease of its PublicIP that the config no longer allows and takes one that fits', async () => {
    const p = newPrefix();
    await put(keyOf(p, '10.5.1.0/24'), '{"PublicIP":"198.18.0.10","PublicIPv6":null,"BackendType":"vxlan"}');
    const t = f.make(p, { range: rangeOf('{"Network":"10.5.0.0/16","SubnetMin":"10.5.10.0"}') });
    const lease = await t.manager.acquireLease(vxlanAttrs('198.18.0.10'), never);
    expect(lease.subnet!.ip).toBeGreaterThanOrEqual(cidr('10.5.10.0/24').ip);
    expect([...(await get(p)).keys()]).toEqual([keyOf(p, formatCidr(lease.subnet!))]);
    expect(t.lines).toContain('Found lease (ip: 10.5.1.0/24 ipv6: <nil>) for current IP (198.18.0.10) but not compatible with current config, deleting');
  });

  it('takes the previous subnet from subnet.env when it is free and fits; ignores it when another node holds it or it does not fit', async () => {
    const p = newPrefix();
    const a = f.make(p, { previousSubnet: cidr('10.5.177.0/24') });
    expect(formatCidr((await a.manager.acquireLease(vxlanAttrs('198.18.0.10'), never)).subnet!)).toBe('10.5.177.0/24');
    expect(a.lines).toContain('Found previously leased subnet (10.5.177.0/24), reusing');

    const b = f.make(p, { previousSubnet: cidr('10.5.177.0/24') });
    const lb = await b.manager.acquireLease(vxlanAttrs('198.18.0.11'), never);
    expect(formatCidr(lb.subnet!)).not.toBe('10.5.177.0/24');
    expect(b.lines.some((l) => l.startsWith('Found previously leased subnet'))).toBe(false);

    const c = f.make(p, { previousSubnet: cidr('10.5.0.0/24') });
    const lc = await c.manager.acquireLease(vxlanAttrs('198.18.0.12'), never);
    expect(formatCidr(lc.subnet!)).not.toBe('10.5.0.0/24');
    expect(c.lines).toContain('Found previously leased subnet (10.5.0.0/24) that is not compatible with the Etcd network config, ignoring');
    expect((await get(p)).size).toBe(3);
  });

  it('honours reservations: a key without TTL is never given to another node, and its node keeps it without TTL', async () => {
    const p = newPrefix();
    const range = rangeOf('{"Network":"10.5.0.0/16","SubnetMin":"10.5.1.0","SubnetMax":"10.5.2.0"}');
    await put(keyOf(p, '10.5.1.0/24'), '{"PublicIP":"198.18.0.20","PublicIPv6":null}');
    for (let i = 0; i < 5; i++) {
      const t = f.make(p, { range });
      expect(formatCidr((await t.manager.acquireLease(vxlanAttrs('198.18.0.10'), never)).subnet!)).toBe('10.5.2.0/24');
      t.manager.close();
    }
    const owner = f.make(p, { range });
    expect(formatCidr((await owner.manager.acquireLease(hostGwAttrs('198.18.0.20'), never)).subnet!)).toBe('10.5.1.0/24');
    const kv = (await get(p)).get(keyOf(p, '10.5.1.0/24'))!;
    expect(kv.lease).toBe('0');
    expect(kv.value).toBe('{"PublicIP":"198.18.0.20","PublicIPv6":null,"BackendType":"host-gw"}');
  });

  it('ten nodes acquiring at once in a range of twelve subnets get ten different subnets (creation races are retried)', async () => {
    const p = newPrefix();
    const range = rangeOf('{"Network":"10.5.0.0/16","SubnetMin":"10.5.1.0","SubnetMax":"10.5.12.0"}');
    const nodes = Array.from({ length: 10 }, (_, i) => ({ ip: `198.18.0.${10 + i}`, t: f.make(p, { range }) }));
    const leases = await Promise.all(nodes.map(({ ip, t }) => t.manager.acquireLease(vxlanAttrs(ip), never)));
    const subnets = leases.map((l) => formatCidr(l.subnet!));
    expect(new Set(subnets).size).toBe(10);
    const stored = await get(p);
    expect(stored.size).toBe(10);
    for (let i = 0; i < 10; i++) {
      expect(JSON.parse(stored.get(keyOf(p, subnets[i]!))!.value).PublicIP).toBe(nodes[i]!.ip);
    }
  });

  it('out of subnets: says which range, how many leases and the oldest holders; acquires once a subnet is freed', async () => {
    const p = newPrefix();
    const range = rangeOf('{"Network":"10.5.0.0/16","SubnetMin":"10.5.1.0","SubnetMax":"10.5.2.0"}');
    const la = await f.make(p, { range }).manager.acquireLease(vxlanAttrs('198.18.0.10'), never);
    const lb = await f.make(p, { range }).manager.acquireLease(vxlanAttrs('198.18.0.11'), never);
    const stored = await get(p);
    const ka = keyOf(p, formatCidr(la.subnet!));
    const kb = keyOf(p, formatCidr(lb.subnet!));

    const c = f.make(p, { range });
    const acquiring = c.manager.acquireLease(vxlanAttrs('198.18.0.12'), never);
    expect(c.manager.waitingFor).toBe(`acquiring a subnet lease in etcd at ${etcd.endpoint}`);
    await until(() => c.manager.waitingFor?.includes('out of subnets') === true, 'the third node to report why it waits');
    expect(c.manager.waitingFor).toBe(
      `acquiring a subnet lease in etcd: out of subnets: all 2 /24 subnets from 10.5.1.0 to 10.5.2.0 are taken; 2 leases under ${p}/subnets/; ` +
        `oldest holders: ${formatCidr(la.subnet!)} held by 198.18.0.10 (created at revision ${stored.get(ka)!.createRevision}), ` +
        `${formatCidr(lb.subnet!)} held by 198.18.0.11 (created at revision ${stored.get(kb)!.createRevision}). ` +
        `Leases of nodes that are gone expire 24 h after their last renewal; free a subnet now with \`etcdctl del ${ka}\`, or widen Network, SubnetMin or SubnetMax`,
    );
    expect(c.lines.filter((l) => l.includes('out of subnets'))).toHaveLength(1);

    await etcd.etcdctl(['del', ka]);
    expect(formatCidr((await acquiring).subnet!)).toBe(formatCidr(la.subnet!));
    expect(c.manager.waitingFor).toBeUndefined();
  });

  it('renews the lease renew-margin before it expires, with a fresh etcd lease', async () => {
    const p = newPrefix();
    const t = f.make(p, { ttlSeconds: 6, renewMarginMs: 4000 });
    const lease = await t.manager.acquireLease(vxlanAttrs('198.18.0.10'), never);
    const key = keyOf(p, formatCidr(lease.subnet!));
    const first = (await get(p)).get(key)!.lease;
    await t.manager.completeLease(never);
    await until(async () => (await get(p)).get(key)?.lease !== first, 'a renewal', 20_000);
    expect(t.manager.stats.renewals).toBeGreaterThanOrEqual(1);
    expect(t.lines.some((l) => l.startsWith('Lease renewed, new expiration: '))).toBe(true);
    // The old etcd lease was not revoked by the renewal: the key outlives it only by the new one.
    expect(t.revoked).toBe(0);
  });

  it('watch: a snapshot first, then additions, changes, deletions and TTL expiry; never the own subnet; malformed keys skipped', async () => {
    const p = newPrefix();
    await put(keyOf(p, '10.5.11.0/24'), '{"PublicIP":"198.18.0.11","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"aa:00:00:00:00:11"}}');
    await put(keyOf(p, '10.5.12.0/24'), '{"PublicIP":"198.18.0.12","PublicIPv6":null,"BackendType":"host-gw"}');
    await put(keyOf(p, '10.5.13.0/24'), 'not json');
    const t = f.make(p);
    const own = await t.manager.acquireLease(vxlanAttrs('198.18.0.10'), never);
    const sink = eventSink();
    const stop = new AbortController();
    t.manager.watchLeases(sink.onEvents, stop.signal);
    await until(sink.listed, 'the first list');
    expect(sink.batches[0]!.map((e) => `${e.type} ${formatCidr(e.lease.subnet!)} ${e.lease.attrs.backendData}`).sort()).toEqual([
      'added 10.5.11.0/24 {"VNI":1,"VtepMAC":"aa:00:00:00:00:11"}',
      'added 10.5.12.0/24 null',
    ]);
    expect(t.lines).toContain(`ignoring etcd key ${keyOf(p, '10.5.13.0/24')}: value is not JSON (Unexpected token 'o', "not json" is not valid JSON)`);

    await put(keyOf(p, '10.5.14.0/24'), '{"PublicIP":"198.18.0.14","PublicIPv6":null}');
    await put(keyOf(p, '10.5.11.0/24'), '{"PublicIP":"198.18.0.21","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"aa:00:00:00:00:21"}}');
    await etcd.etcdctl(['del', keyOf(p, '10.5.12.0/24')]);
    // Long enough that its put and its expiry never land in one watch response on a loaded machine.
    const grant = await etcd.etcdctl(['lease', 'grant', '5']);
    const id = /lease ([0-9a-f]+) granted/.exec(grant.stdout)![1]!;
    await put(keyOf(p, '10.5.15.0/24'), '{"PublicIP":"198.18.0.15","PublicIPv6":null}', `--lease=${id}`);
    const seen = (type: string): boolean => sink.batches.flat().some((e) => e.type === type && formatCidr(e.lease.subnet!) === '10.5.15.0/24');
    await until(() => seen('added'), 'the short-lived lease to appear');
    await until(() => seen('removed'), 'the short-lived lease to expire', 20_000);
    expect(Object.fromEntries(sink.view)).toEqual({ '10.5.11.0/24': '198.18.0.21', '10.5.14.0/24': '198.18.0.14' });
    const all = sink.batches.flat();
    expect(all.some((e) => formatCidr(e.lease.subnet!) === formatCidr(own.subnet!))).toBe(false);
    expect(all.filter((e) => e.type === 'removed').map((e) => formatCidr(e.lease.subnet!))).toEqual(['10.5.12.0/24', '10.5.15.0/24']);
    expect(t.manager.stats.malformedSkipped).toBe(1);
    stop.abort();
  });

  it('a compaction during a watch: the watch falls behind, relists and resyncs, losing nothing and keeping nothing stale', async () => {
    const p = newPrefix();
    const relay = await startRelay(etcd.endpoint);
    try {
      await put(keyOf(p, '10.5.11.0/24'), '{"PublicIP":"198.18.0.11","PublicIPv6":null}');
      await put(keyOf(p, '10.5.12.0/24'), '{"PublicIP":"198.18.0.12","PublicIPv6":null}');
      const t = f.make(p, { endpoint: relay.endpoint });
      await t.manager.acquireLease(udpAttrs('198.18.0.10'), never);
      const sink = eventSink();
      t.manager.watchLeases(sink.onEvents, never);
      await until(sink.listed, 'the first list');
      expect([...sink.view.keys()].sort()).toEqual(['10.5.11.0/24', '10.5.12.0/24']);

      await relay.cut();
      await etcd.etcdctl(['del', keyOf(p, '10.5.11.0/24')]);
      await put(keyOf(p, '10.5.12.0/24'), '{"PublicIP":"198.18.0.22","PublicIPv6":null}');
      await put(keyOf(p, '10.5.13.0/24'), '{"PublicIP":"198.18.0.13","PublicIPv6":null}');
      await put(keyOf(p, '10.5.14.0/24'), '{"PublicIP":"198.18.0.14","PublicIPv6":null}');
      await etcd.etcdctl(['del', keyOf(p, '10.5.14.0/24')]);
      await etcd.etcdctl(['compaction', String(await revisionNow())]);
      await relay.restore();

      await until(() => t.manager.stats.relists >= 1 && sink.view.size === 2 && sink.view.get('10.5.12.0/24') === '198.18.0.22', 'the resync after the compaction');
      expect(Object.fromEntries(sink.view)).toEqual({ '10.5.12.0/24': '198.18.0.22', '10.5.13.0/24': '198.18.0.13' });
      expect(t.lines.some((l) => /^etcd watch for \/t\d+\/network\/subnets\/ fell behind compaction horizon \(compact rev \d+\), re-listing and resuming$/.test(l))).toBe(true);
      // And it watches again from the new revision.
      await put(keyOf(p, '10.5.16.0/24'), '{"PublicIP":"198.18.0.16","PublicIPv6":null}');
      await until(() => sink.view.has('10.5.16.0/24'), 'an event after the resync');
    } finally {
      await relay.close();
    }
  });

  it('etcd stopped and started again: peers are kept meanwhile, the watch reconnects and catches up', async () => {
    const p = newPrefix();
    await put(keyOf(p, '10.5.11.0/24'), '{"PublicIP":"198.18.0.11","PublicIPv6":null}');
    const t = f.make(p);
    await t.manager.acquireLease(udpAttrs('198.18.0.10'), never);
    const sink = eventSink();
    t.manager.watchLeases(sink.onEvents, never);
    await until(sink.listed, 'the first list');
    await etcd.stop();
    await until(() => t.lines.some((l) => l.startsWith('etcd watch for ')), 'the watch to notice');
    expect(Object.fromEntries(sink.view)).toEqual({ '10.5.11.0/24': '198.18.0.11' });
    await etcd.start();
    await put(keyOf(p, '10.5.12.0/24'), '{"PublicIP":"198.18.0.12","PublicIPv6":null}');
    await until(() => sink.view.has('10.5.12.0/24'), 'the event after the restart');
    expect(Object.fromEntries(sink.view)).toEqual({ '10.5.11.0/24': '198.18.0.11', '10.5.12.0/24': '198.18.0.12' });
    expect(t.revoked).toBe(0);
  });

  it('the own lease deleted: onLeaseRevoked once, as upstream shuts down', async () => {
    const p = newPrefix();
    const t = f.make(p);
    const lease = await t.manager.acquireLease(vxlanAttrs('198.18.0.10'), never);
    t.manager.watchLeases(() => undefined, never);
    await t.manager.completeLease(never);
    await etcd.etcdctl(['del', keyOf(p, formatCidr(lease.subnet!))]);
    await until(() => t.revoked > 0, 'the revocation');
    expect(t.revoked).toBe(1);
    expect(t.lines).toContain('Lease has been revoked. Shutting down daemon.');
  });

  it('<prefix>/config: missing says where and how to create it; invalid is one line naming the key', async () => {
    const p = newPrefix();
    const client = new EtcdClient({ endpoints: [etcd.endpoint] });
    try {
      const message = (e: unknown): string => (e as Error).message;
      expect(await readEtcdNetConf(client, p, never).catch(message)).toBe(configNotFoundMessage(`${p}/config`, etcd.endpoint));
      await put(`${p}/config`, '{"Network": "10.5.0.0/16",\n "Backend": {"Type": "vxlan", "VNI": "1"}}');
      expect(await readEtcdNetConf(client, p, never).catch(message)).toBe(`etcd key ${p}/config: Backend.VNI: "1" is not a valid VNI (expected an integer 0..16777215)`);
      await put(`${p}/config`, '{"Network": "10.5.0.0/16", "SubnetLen": 26, "Backend": {"Type": "host-gw"}}');
      const conf = await readEtcdNetConf(client, p, never);
      expect([formatCidr(conf.network!), conf.subnetLen, conf.backend.type]).toEqual(['10.5.0.0/16', 26, 'host-gw']);
    } finally {
      client.close();
    }
  });

  describe('dual-stack', () => {
    // Hand-written peers lie below the allocation ranges, as in helpers.ts.
    const dualRange = rangeOf('{"Network":"10.5.0.0/16","SubnetMin":"10.5.128.0","EnableIPv6":true,"IPv6Network":"fd00:5::/56","IPv6SubnetMin":"fd00:5:0:80::","Backend":{"Type":"vxlan"}}');
    const dualVxlan = (n: number) => ({
      ...vxlanAttrs(`198.18.0.${n}`, `aa:00:00:00:00:${n}`),
      publicIpv6: `fd00:198:18::${n}`,
      backendV6Data: `{"VNI":1,"VtepMAC":"aa:00:00:00:06:${n}"}`,
    });
    const keyOf2 = (p: string, v4: string, v6: string): string => `${keyOf(p, v4)}&${v6.replace('/', '-')}`;

    it("keys the lease <ip>-<len>&<ip6>-<len> and writes both halves with upstream's bytes", async () => {
      const p = newPrefix();
      const t = f.make(p, { range: dualRange });
      const lease = await t.manager.acquireLease(dualVxlan(10), never);
      expect(formatCidr(lease.subnet!)).toMatch(/^10\.5\.\d+\.0\/24$/);
      expect(formatCidr6(lease.ipv6Subnet!)).toMatch(/^fd00:5:0:[89a-f][0-9a-f]::\/64$/);
      const key = keyOf2(p, formatCidr(lease.subnet!), formatCidr6(lease.ipv6Subnet!));
      expect(t.manager.leaseKey).toBe(key);
      expect([...(await get(p))].map(([k, v]) => [k, v.value])).toEqual([
        [
          key,
          '{"PublicIP":"198.18.0.10","PublicIPv6":"fd00:198:18::10","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"aa:00:00:00:00:10"},"BackendV6Data":{"VNI":1,"VtepMAC":"aa:00:00:00:06:10"}}',
        ],
      ]);
      expect(t.lines).toContain(`Allocated lease (ip: ${formatCidr(lease.subnet!)} ipv6: ${formatCidr6(lease.ipv6Subnet!)}) to current node (198.18.0.10)`);

      // A restart finds it by the public IP and keeps both subnets.
      t.manager.close();
      const again = f.make(p, { range: dualRange });
      const same = await again.manager.acquireLease(dualVxlan(10), never);
      expect([formatCidr(same.subnet!), formatCidr6(same.ipv6Subnet!)]).toEqual([formatCidr(lease.subnet!), formatCidr6(lease.ipv6Subnet!)]);
      expect([...(await get(p)).keys()]).toEqual([key]);
    });

    it('peers come with both halves; an IPv4-only key is a peer for IPv4; a bad IPv6 half is skipped and named', async () => {
      const p = newPrefix();
      await put(keyOf2(p, '10.5.11.0/24', 'fd00:5:0:11::/64'), '{"PublicIP":"198.18.0.11","PublicIPv6":"fd00:198:18::11","BackendType":"host-gw"}');
      await put(keyOf(p, '10.5.12.0/24'), '{"PublicIP":"198.18.0.12","PublicIPv6":null,"BackendType":"host-gw"}');
      await put(keyOf2(p, '10.5.13.0/24', 'fd00:5:0:13::1/64'), '{"PublicIP":"198.18.0.13","PublicIPv6":"fd00:198:18::13","BackendType":"host-gw"}');
      const t = f.make(p, { range: dualRange });
      await t.manager.acquireLease(dualVxlan(10), never);
      const peers: string[] = [];
      const stop = new AbortController();
      t.manager.watchLeases((events) => peers.push(...events.map((e) => `${e.type} ${leaseSubnets(e.lease)} ${e.lease.attrs.publicIp} ${e.lease.attrs.publicIpv6 ?? '-'}`)), stop.signal);
      await until(() => peers.length >= 2, 'the snapshot');
      expect(peers.sort()).toEqual(['added 10.5.11.0/24,fd00:5:0:11::/64 198.18.0.11 fd00:198:18::11', 'added 10.5.12.0/24 198.18.0.12 -']);
      expect(t.lines).toContain(
        `ignoring etcd key ${keyOf2(p, '10.5.13.0/24', 'fd00:5:0:13::1/64')}: key names fd00:5:0:13::1/64, which is not a network address (expected fd00:5:0:13::-64)`,
      );
      await put(keyOf2(p, '10.5.14.0/24', 'fd00:5:0:14::/64'), '{"PublicIP":"198.18.0.14","PublicIPv6":"fd00:198:18::14"}');
      await until(() => peers.length >= 3, 'the watched peer');
      expect(peers[2]).toBe('added 10.5.14.0/24,fd00:5:0:14::/64 198.18.0.14 fd00:198:18::14');
      stop.abort();
    });

    it('IPv6 enabled on a running network: a node keeps its IPv4 subnet and gains an IPv6 one (upstream moves both)', async () => {
      const p = newPrefix();
      const v4Range = rangeOf('{"Network":"10.5.0.0/16","SubnetMin":"10.5.128.0"}');
      const before = await f.make(p, { range: v4Range }).manager.acquireLease(vxlanAttrs('198.18.0.10'), never);
      const t = f.make(p, { range: dualRange });
      const after = await t.manager.acquireLease(dualVxlan(10), never);
      expect(formatCidr(after.subnet!)).toBe(formatCidr(before.subnet!));
      const key = keyOf2(p, formatCidr(after.subnet!), formatCidr6(after.ipv6Subnet!));
      expect([...(await get(p)).keys()]).toEqual([key]);
      expect(t.lines).toContain(`Found lease (ip: ${formatCidr(before.subnet!)} ipv6: <nil>) for current IP (198.18.0.10) but not compatible with current config, deleting`);
    });

    it("takes both subnets of the previous subnet.env when they are free, each family on its own", async () => {
      const p = newPrefix();
      const a = f.make(p, { range: dualRange, previousSubnet: cidr('10.5.177.0/24'), previousIpv6Subnet: parseCidr6('fd00:5:0:b1::/64')! });
      const la = await a.manager.acquireLease(dualVxlan(10), never);
      expect([formatCidr(la.subnet!), formatCidr6(la.ipv6Subnet!)]).toEqual(['10.5.177.0/24', 'fd00:5:0:b1::/64']);
      expect(a.lines).toEqual(expect.arrayContaining(['Found previously leased subnet (10.5.177.0/24), reusing', 'Found previously leased IPv6 subnet (fd00:5:0:b1::/64), reusing']));
      // Another node with the same previous IPv6 subnet but a free IPv4 one: keeps the IPv4, picks a new IPv6.
      const b = f.make(p, { range: dualRange, previousSubnet: cidr('10.5.178.0/24'), previousIpv6Subnet: parseCidr6('fd00:5:0:b1::/64')! });
      const lb = await b.manager.acquireLease(dualVxlan(11), never);
      expect(formatCidr(lb.subnet!)).toBe('10.5.178.0/24');
      expect(formatCidr6(lb.ipv6Subnet!)).not.toBe('fd00:5:0:b1::/64');
      expect(b.lines.some((l) => l.startsWith('Picking ipv6 subnet in range fd00:5:0:80:: ... fd00:5:0:ff::'))).toBe(true);
    });

    it('out of IPv6 subnets names the IPv6 range', async () => {
      const p = newPrefix();
      const tiny = rangeOf('{"Network":"10.5.0.0/16","SubnetMin":"10.5.128.0","EnableIPv6":true,"IPv6Network":"fd00:5::/56","IPv6SubnetMin":"fd00:5:0:80::","IPv6SubnetMax":"fd00:5:0:80::","Backend":{"Type":"vxlan"}}');
      await f.make(p, { range: tiny }).manager.acquireLease(dualVxlan(10), never);
      const c = f.make(p, { range: tiny });
      void c.manager.acquireLease(dualVxlan(11), never).catch(() => undefined);
      await until(() => c.manager.waitingFor?.includes('out of IPv6 subnets') === true, 'the second node to report why it waits');
      expect(c.manager.waitingFor).toMatch(/^acquiring a subnet lease in etcd: out of IPv6 subnets: all 1 \/64 subnets from fd00:5:0:80:: to fd00:5:0:80:: are taken; 1 leases under /);
    });
  });
});
