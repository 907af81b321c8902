/**
 * Readiness that cannot stall a rollout (issue 10 item 4), one 2-node host-gw lab:
 *  - a peer the kernel refuses (its public IP is the underlay's broadcast address: "Nexthop has
 *    invalid gateway") does not keep a restarted daemon unready: ready, with the peer named in
 *    /readyz's body, counted in flannel_peers_unprogrammed, logged once; the other peer is
 *    programmed and pods talk; deleting the bad node clears it all;
 *  - the node's own datapath does hold readiness: a subnet.env that cannot be written keeps
 *    /readyz at 503 with the reason until a retry writes it;
 *  - a net-conf.json that upstream runs with runs here: its problems upstream accepts are logged
 *    once, counted and listed in /readyz's body, and go once a fixed file is in effect.
 */
import { mkdirSync, readFileSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { eventually, HEALTH_PORT, logRecords, PREFIX, sample, scrape } from './daemon-helpers.ts';
import { daemonLabSkip, useLab } from './harness.ts';
import { netConfJson } from '../../lab/daemon.ts';

const { skip, why } = daemonLabSkip;

const GHOST = 'ghost';
const GHOST_CIDR = '10.244.50.0/24';
/** The underlay's broadcast address: the kernel refuses it as a gateway, and nothing is ever sent to it. */
const GHOST_IP = '198.18.0.255';

describe.skipIf(skip)(`readiness and failures of one peer, host-gw${skip ? ` (skipped: ${why})` : ''}`, () => {
  const lab = useLab({ nodes: 2, backend: 'host-gw' });

  it('a peer the kernel refuses is reported, not held against readiness, also across a restart', async () => {
    const created = await lab().api('POST', '/api/v1/nodes', {
      metadata: {
        name: GHOST,
        annotations: {
          [`${PREFIX}backend-data`]: 'null',
          [`${PREFIX}backend-type`]: 'host-gw',
          [`${PREFIX}kube-subnet-manager`]: 'true',
          [`${PREFIX}public-ip`]: GHOST_IP,
        },
      },
      spec: { podCIDR: GHOST_CIDR, podCIDRs: [GHOST_CIDR] },
    });
    expect(created.status).toBe(201);
    const n = lab().node(0);
    // A restart meets the bad peer in its first list: the case that used to hold readiness forever.
    await lab().stopDaemon(0);
    const from = logRecords(n).length;
    await lab().startDaemon(0);
    const warning = new RegExp(
      `^flanneld is ready\\nwarning: peer ${GHOST} \\(${GHOST_CIDR.replace(/[./]/g, '\\$&')}\\) is not programmed: RTM_NEWROUTE .*EINVAL \\(Nexthop has invalid gateway\\.?\\)$`,
    );
    await eventually(async () => {
      const r = await n.http('/readyz', HEALTH_PORT);
      expect(r.status).toBe(200);
      expect(r.body).toMatch(warning);
    }, 30_000);
    const { samples } = await scrape(n);
    expect(sample(samples, 'flannel_peers_unprogrammed', { reason: 'EINVAL' })).toBe(1);
    expect(sample(samples, 'flannel_peers', { backend: 'host-gw' })).toBe(2);
    // The good peer is programmed, the bad one not; pods talk.
    const routes = (await n.exec(['ip', '-4', 'route', 'show', 'proto', 'boot'])).stdout;
    expect(routes).toContain(`${lab().node(1).podCidr} via ${lab().node(1).underlayIp} dev eth0`);
    expect(routes).not.toContain(GHOST_CIDR);
    expect(await lab().ping(lab().pod(0, 0), lab().pod(1, 0))).toBe(true);
    // Logged once, however often the loop retried meanwhile.
    const told = logRecords(n).slice(from).map((r) => String(r['msg'])).filter((m) => m.startsWith(`cannot program peer ${GHOST}`));
    expect(told).toEqual([expect.stringMatching(/EINVAL.*; retrying on every resync \(it does not hold readiness\)$/)]);

    expect((await lab().api('DELETE', `/api/v1/nodes/${GHOST}`)).status).toBe(200);
    await eventually(async () => expect(await n.http('/readyz', HEALTH_PORT)).toEqual({ status: 200, body: 'flanneld is ready' }));
    expect(sample((await scrape(n)).samples, 'flannel_peers_unprogrammed', { reason: 'EINVAL' })).toBe(0);
  }, 120_000);

  it('a subnet.env that cannot be written holds readiness until a retry writes it', async () => {
    const n = lab().node(1);
    const before = readFileSync(n.subnetFile, 'utf8');
    await lab().stopDaemon(1);
    // A directory where the file goes: the rename over it fails (EISDIR), as a read-only /run would.
    rmSync(n.subnetFile);
    mkdirSync(n.subnetFile);
    try {
      await lab().startDaemon(1, { wait: false });
      await eventually(async () => {
        const r = await n.http('/readyz', HEALTH_PORT);
        expect(r.status).toBe(503);
        expect(r.body).toMatch(new RegExp(`^not ready: cannot write ${n.subnetFile.replace(/[./]/g, '\\$&')}: .*EISDIR.*; retrying every 5 s$`));
      }, 30_000);
      expect(logRecords(n).some((r) => String(r['msg']).startsWith('Failed to write subnet file: ') && String(r['msg']).includes('EISDIR'))).toBe(true);
    } finally {
      rmdirSync(n.subnetFile);
    }
    await eventually(async () => expect(await n.http('/readyz', HEALTH_PORT)).toEqual({ status: 200, body: 'flanneld is ready' }), 30_000);
    expect(readFileSync(n.subnetFile, 'utf8')).toBe(before);
  }, 120_000);

  it('starts with a net-conf.json upstream accepts: each problem logged once, counted and listed, gone with a fixed file', async () => {
    const n = lab().node(1);
    const lenient = '{"Network": "10.244.0.0/16", "EnableNFTables": null, "SubnetLen": 31, "network": "10.244.0.0/16", "Backend": {"Type": "host-gw"}}\n';
    await lab().stopDaemon(1);
    const from = logRecords(n).length;
    await lab().startDaemon(1, { netConf: lenient });
    const path = n.subnetFile.replace(/subnet\.env$/, 'net-conf.json');
    const warnings = [
      `${path}: EnableNFTables: null is not a boolean (expected true or false); accepted, as upstream's JSON decoder leaves a number or boolean that is null at its default: the default, false, is used`,
      `${path}: Network: is set more than once, by keys "Network" and "network" (expected each field once; keys match case-insensitively, as in upstream flannel); accepted, as upstream's JSON decoder takes the last of two keys for one field (keys match case-insensitively): the last one, "network": "10.244.0.0/16", counts`,
      `${path}: SubnetLen: 31 is not a valid subnet length (expected an integer 18..30 for a /16 Network, or 0 for the default); accepted, as upstream checks SubnetLen, SubnetMin, SubnetMax and the Network's size only in etcd mode; its kube subnet manager ignores them: SubnetLen, SubnetMin and SubnetMax are ignored (the nodes' podCIDRs are the subnets)`,
    ];
    await eventually(async () => expect(await n.http('/readyz', HEALTH_PORT)).toEqual({ status: 200, body: ['flanneld is ready', ...warnings.map((w) => `warning: ${w}`)].join('\n') }), 30_000);
    const { samples } = await scrape(n);
    for (const check of ['null-value', 'duplicate-key', 'subnet-range']) expect(sample(samples, 'flannel_config_warnings', { check })).toBe(1);
    const logged = logRecords(n).slice(from).filter((r) => r['level'] === 40 && warnings.includes(String(r['msg'])));
    expect(logged.map((r) => r['msg'])).toEqual(warnings);
    expect(await lab().ping(lab().pod(1, 0), lab().pod(0, 0))).toBe(true);

    // The kubelet swaps in a fixed ConfigMap: the warnings go, nothing is restarted.
    writeFileSync(`${path}.tmp`, netConfJson('host-gw', false));
    rmSync(path);
    writeFileSync(path, readFileSync(`${path}.tmp`));
    rmSync(`${path}.tmp`);
    await eventually(async () => expect(await n.http('/readyz', HEALTH_PORT)).toEqual({ status: 200, body: 'flanneld is ready' }), 60_000);
    expect(sample((await scrape(n)).samples, 'flannel_config_warnings', { check: 'subnet-range' })).toBe(0);
  }, 120_000);
});
