/**
 * deploy/kustomize rendered with `kubectl kustomize` (Debian's kubernetes-client, installed by
 * scripts/setup.sh; KUBECTL picks another) and checked object by object against
 * deploy/kube-flannel.yml: the base is the manifest, each overlay changes only what it says.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAllYaml, type V1ConfigMap, type V1DaemonSet } from '@kubernetes/client-node';
import { parseNetConf } from '../../src/config/netconf.ts';
import { METRIC_DOCS } from '../../src/observe/metrics.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const KUBECTL = process.env['KUBECTL'] ?? 'kubectl';

type Obj = { kind: string; metadata: { name: string; namespace?: string } } & Record<string, unknown>;
const key = (o: Obj) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
const byKey = (docs: Obj[]) => new Map(docs.map((d) => [key(d), d]));
/** A deep copy as plain JSON (client-node's typed objects carry undefined fields). */
const plain = <T>(o: T): T => JSON.parse(JSON.stringify(o)) as T;

function render(dir: string): Map<string, Obj> {
  let out: string;
  try {
    out = execFileSync(KUBECTL, ['kustomize', join(root, 'deploy/kustomize', dir)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { code?: string; stderr?: string };
    throw new Error(err.code === 'ENOENT' ? `${KUBECTL} is not installed (bash scripts/setup.sh installs Debian's kubernetes-client)` : `kubectl kustomize ${dir}: ${err.stderr ?? String(e)}`);
  }
  return byKey(plain(loadAllYaml(out) as Obj[]));
}

const manifest = byKey(plain(loadAllYaml(readFileSync(join(root, 'deploy/kube-flannel.yml'), 'utf8')) as Obj[]));
const CM = 'ConfigMap/kube-flannel/kube-flannel-cfg';
const DS = 'DaemonSet/kube-flannel/kube-flannel-ds';
const netConf = (m: Map<string, Obj>) => (m.get(CM) as unknown as V1ConfigMap).data!['net-conf.json']!;
const container = (m: Map<string, Obj>) => (m.get(DS) as unknown as V1DaemonSet).spec!.template.spec!.containers[0]!;

/** The overlay's objects equal the manifest's except the ConfigMap's net-conf.json and what `edit` changes. */
function expectOnly(overlay: Map<string, Obj>, edit: (m: Map<string, Obj>) => void = () => {}): void {
  const want = new Map([...manifest].map(([k, v]) => [k, plain(v)]));
  (want.get(CM) as unknown as V1ConfigMap).data!['net-conf.json'] = netConf(overlay);
  edit(want);
  expect([...overlay.keys()].sort()).toEqual([...want.keys()].sort());
  for (const [k, v] of want) expect(overlay.get(k), k).toEqual(v);
}

describe('deploy/kustomize', () => {
  it('base: a copy of deploy/kube-flannel.yml that renders to the same objects', () => {
    expect(readFileSync(join(root, 'deploy/kustomize/base/kube-flannel.yml'), 'utf8')).toBe(readFileSync(join(root, 'deploy/kube-flannel.yml'), 'utf8'));
    const base = render('base');
    expect([...base.keys()].sort()).toEqual([...manifest.keys()].sort());
    for (const [k, v] of manifest) expect(base.get(k), k).toEqual(v);
  });

  it('host-gw: only the backend changes, to a config the daemon accepts', () => {
    const m = render('overlays/host-gw');
    expectOnly(m);
    expect(JSON.parse(netConf(m))).toEqual({ Network: '10.244.0.0/16', EnableNFTables: false, Backend: { Type: 'host-gw' } });
    expect(parseNetConf(netConf(m), 'host-gw').backend.type).toBe('host-gw');
  });

  it('udp: the udp backend, and privileged for /dev/net/tun', () => {
    const m = render('overlays/udp');
    expectOnly(m, (want) => {
      container(want).securityContext!.privileged = true;
    });
    expect(JSON.parse(netConf(m))).toEqual({ Network: '10.244.0.0/16', EnableNFTables: false, Backend: { Type: 'udp' } });
    expect(parseNetConf(netConf(m), 'udp').backend.type).toBe('udp');
    expect(container(m).securityContext).toEqual({ privileged: true, capabilities: { add: ['NET_ADMIN', 'NET_RAW'] } });
  });

  it('network: another Network, otherwise the manifest', () => {
    const m = render('overlays/network');
    expectOnly(m);
    expect(JSON.parse(netConf(m))).toEqual({ Network: '10.42.0.0/16', EnableNFTables: false, Backend: { Type: 'vxlan' } });
    expect(parseNetConf(netConf(m), 'network').network).toEqual(parseNetConf('{"Network":"10.42.0.0/16","Backend":{"Type":"vxlan"}}', 'x').network);
  });

  it("dual-stack: upstream's dual-stack net-conf.json, which the daemon accepts", () => {
    const m = render('overlays/dual-stack');
    expectOnly(m);
    expect(JSON.parse(netConf(m))).toEqual({ EnableIPv4: true, Network: '10.244.0.0/16', EnableIPv6: true, IPv6Network: 'fd00:10:244::/56', EnableNFTables: false, Backend: { Type: 'vxlan' } });
    const conf = parseNetConf(netConf(m), 'net-conf.json');
    expect([conf.enableIPv4, conf.enableIPv6, conf.ipv6SubnetLen, conf.warnings]).toEqual([true, true, 64, []]);
  });

  it('monitoring: the manifest plus a PodMonitor on the pods\' metrics port and a PrometheusRule on metrics the daemon exports', () => {
    const m = render('overlays/monitoring');
    const extra = [...m.keys()].filter((k) => !manifest.has(k)).sort();
    expect(extra).toEqual(['PodMonitor/kube-flannel/kube-flannel', 'PrometheusRule/kube-flannel/kube-flannel']);
    for (const [k, v] of manifest) expect(m.get(k), k).toEqual(v);

    const pm = m.get('PodMonitor/kube-flannel/kube-flannel') as unknown as { apiVersion: string; spec: { selector: { matchLabels: Record<string, string> }; podMetricsEndpoints: { port: string; path: string }[] } };
    expect(pm.apiVersion).toBe('monitoring.coreos.com/v1');
    const ds = m.get(DS) as unknown as V1DaemonSet;
    expect(ds.spec!.template.metadata!.labels).toMatchObject(pm.spec.selector.matchLabels);
    expect(pm.spec.podMetricsEndpoints.map((e) => [e.port, e.path])).toEqual([['metrics', '/metrics']]);
    expect(container(m).ports!.map((p) => p.name)).toContain('metrics');

    const rule = m.get('PrometheusRule/kube-flannel/kube-flannel') as unknown as { spec: { groups: { rules: { alert: string; expr: string }[] }[] } };
    const rules = rule.spec.groups.flatMap((g) => g.rules);
    expect(rules.map((r) => r.alert)).toEqual([
      'FlannelDaemonNotReady', 'FlannelReconcileErrors', 'FlannelPeersSkipped', 'FlannelDriftRepairsSurging', 'FlannelUdpDrops',
      'FlannelApiContactLost', 'FlannelPeersUnreachable', 'FlannelHostGwPeersNotOnLink',
    ]);
    const ours = new Set<string>(METRIC_DOCS.map((d) => d.name));
    for (const r of rules) {
      for (const [name] of r.expr.matchAll(/\bflannel_[a-z0-9_]+/g)) expect(ours.has(name), `${r.alert}: ${name}`).toBe(true);
    }
    expect(rules[0]!.expr).toContain('daemonset="kube-flannel-ds"');
  });
});
