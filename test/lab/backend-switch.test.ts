/**
 * Live backend switch: the ConfigMap's net-conf.json changes under a running daemon; it brings
 * up the new backend, re-annotates the node, rewrites subnet.env and retires the old backend
 * once no peer may still use it (docs/migration.md) — while pods keep pinging, without a loss.
 * An invalid file keeps the running config and says why in /readyz and the metrics.
 */
import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { daemonLabSkip, useLab } from './harness.ts';
import type { Lab } from './harness.ts';

const { skip, why } = daemonLabSkip;

const NET_CONF = (backend: object): string => `${JSON.stringify({ Network: '10.244.0.0/16', Backend: backend })}\n`;

/** Writes net-conf.json for every node, as the kubelet does when the ConfigMap changes. */
function writeNetConf(lab: Lab, text: string): void {
  for (const n of lab.state.nodes) writeFileSync(n.netConfFile, text);
}

async function curl(lab: Lab, node: number, path: string): Promise<string> {
  const port = path === '/metrics' ? 9862 : 8081;
  return (await lab.node(node).exec(['curl', '-s', `http://127.0.0.1:${port}${path}`])).stdout;
}

/** Polls until `check` passes (bounded); returns its last error otherwise. */
async function eventually(check: () => Promise<void>, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      await check();
      return;
    } catch (e) {
      if (Date.now() > until) throw e;
      await sleep(200);
    }
  }
}

async function routesTo(lab: Lab, node: number, dst: string): Promise<string> {
  return (await lab.node(node).exec(['ip', '-4', 'route', 'show', dst])).stdout.trim();
}

async function linkNames(lab: Lab, node: number): Promise<string[]> {
  const out = (await lab.node(node).exec(['ip', '-j', 'link', 'show'])).stdout;
  return (JSON.parse(out) as { ifname: string }[]).map((l) => l.ifname);
}

describe.skipIf(skip)(`live backend switch${skip ? ` (skipped: ${why})` : ''}`, () => {
  const lab = useLab({ nodes: 2, podsPerNode: 1, backend: 'vxlan', daemonArgs: ['--migration-grace=2'] });

  it('switches vxlan → host-gw → vxlan while pods ping, losing none and leaving nothing of the old backend', async () => {
    const l = lab();
    const [a, b] = [l.pod(0, 0), l.pod(1, 0)];
    expect((await l.waitForFullConnectivity(30_000)).failures).toEqual([]);
    expect(await routesTo(l, 0, '10.244.2.0/24')).toBe('10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink');

    // 3000 pings at 100/s span both switches.
    const stream = l.pingStream(a, b, 3000);
    await sleep(2000);

    writeNetConf(l, NET_CONF({ Type: 'host-gw' }));
    for (const i of [0, 1]) {
      await eventually(async () => {
        expect(await routesTo(l, i, i === 0 ? '10.244.2.0/24' : '10.244.1.0/24')).toBe(i === 0 ? '10.244.2.0/24 via 198.18.0.11 dev eth0' : '10.244.1.0/24 via 198.18.0.10 dev eth0');
        expect(await linkNames(l, i)).not.toContain('flannel.1');
        expect(l.node(i).subnetEnv().mtu).toBe(1500);
      });
    }
    const annotations = JSON.parse(await l.api('GET', `/api/v1/nodes/${l.node(0).name}`).then((r) => r.body)) as { metadata: { annotations: Record<string, string> } };
    expect(annotations.metadata.annotations['flannel.alpha.coreos.com/backend-type']).toBe('host-gw');
    expect(annotations.metadata.annotations['flannel.alpha.coreos.com/backend-data']).toBe('null');
    await eventually(async () => expect(await curl(l, 0, '/readyz')).toBe('flanneld is ready'));
    expect(await curl(l, 0, '/metrics')).toContain('flannel_config_info{network="10.244.0.0/16",backend="host-gw",nftables="false",iptables="nft",vxlan_csum_offload=""} 1');
    await sleep(3000);

    writeNetConf(l, NET_CONF({ Type: 'vxlan' }));
    for (const i of [0, 1]) {
      await eventually(async () => {
        expect(await routesTo(l, i, i === 0 ? '10.244.2.0/24' : '10.244.1.0/24')).toBe(i === 0 ? '10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink' : '10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink');
        expect(l.node(i).subnetEnv().mtu).toBe(1450);
      });
      // No host-gw route via the underlay is left behind.
      expect((await l.node(i).exec(['ip', '-4', 'route', 'show', 'dev', 'eth0'])).stdout.trim()).toBe(`198.18.0.0/24 proto kernel scope link src ${l.node(i).underlayIp}`);
    }

    const result = await stream;
    console.log(`pings across vxlan → host-gw → vxlan: ${result.transmitted} sent, ${result.received} received`);
    expect(result.received).toBe(result.transmitted);
    expect((await l.waitForFullConnectivity(30_000)).failures).toEqual([]);
  }, 120_000);

  it('keeps the running backend when net-conf.json turns invalid, and says why until it is fixed', async () => {
    const l = lab();
    writeFileSync(l.state.nodes[0]!.netConfFile, NET_CONF({ Type: 'vxlan', VNI: -3 }));
    await eventually(async () =>
      expect(await curl(l, 0, '/readyz')).toBe(
        `not ready: net-conf.json invalid: ${l.state.nodes[0]!.netConfFile}: Backend.VNI: -3 is not a valid VNI (expected an integer 0..16777215)`,
      ),
    );
    expect(await curl(l, 0, '/metrics')).toMatch(/^flannel_config_reload_errors_total [1-9]/m);
    expect(await routesTo(l, 0, '10.244.2.0/24')).toBe('10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink');
    expect((await l.waitForFullConnectivity(10_000)).failures).toEqual([]);

    writeFileSync(l.state.nodes[0]!.netConfFile, NET_CONF({ Type: 'vxlan' }));
    await eventually(async () => expect(await curl(l, 0, '/readyz')).toBe('flanneld is ready'));
  }, 60_000);
});
