import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  loadAllYaml,
  type V1ClusterRole,
  type V1ClusterRoleBinding,
  type V1ConfigMap,
  type V1Container,
  type V1DaemonSet,
  type V1Namespace,
  type V1ServiceAccount,
} from '@kubernetes/client-node';
import { DEFAULT_METRICS_PORT } from '../../src/observe/http.ts';
import pkg from '../../package.json' with { type: 'json' };

const root = fileURLToPath(new URL('../..', import.meta.url));
const text = readFileSync(join(root, 'deploy/kube-flannel.yml'), 'utf8');
// client-node's loader maps each document onto its API type (V1DaemonSet, …).
const docs = loadAllYaml(text) as Array<{ kind: string; metadata: { name: string; namespace?: string } }>;
const byKind = <T>(kind: string): T => {
  const found = docs.filter((d) => d.kind === kind);
  expect(found, `exactly one ${kind}`).toHaveLength(1);
  return found[0] as T;
};
const ds = byKind<V1DaemonSet>('DaemonSet');
const pod = ds.spec!.template.spec!;
const flannel = pod.containers.find((c) => c.name === 'kube-flannel')!;
const init = (name: string): V1Container => pod.initContainers!.find((c) => c.name === name)!;
const OUR_IMAGE = `ghcr.io/flannel-ts/flannel-ts:v${pkg.version}`;

describe('deploy/kube-flannel.yml', () => {
  it('holds the same objects as upstream, namespaced in kube-flannel', () => {
    expect(docs.map((d) => `${d.kind}/${d.metadata.name}`)).toEqual([
      'Namespace/kube-flannel',
      'ServiceAccount/flannel',
      'ClusterRole/flannel',
      'ClusterRoleBinding/flannel',
      'ConfigMap/kube-flannel-cfg',
      'DaemonSet/kube-flannel-ds',
    ]);
    for (const d of docs) {
      if (['ServiceAccount', 'ConfigMap', 'DaemonSet'].includes(d.kind)) expect(d.metadata.namespace).toBe('kube-flannel');
    }
    expect(byKind<V1Namespace>('Namespace').metadata!.labels).toEqual({ 'k8s-app': 'flannel', 'pod-security.kubernetes.io/enforce': 'privileged' });
    expect(byKind<V1ServiceAccount>('ServiceAccount').metadata!.name).toBe('flannel');
  });

  it('uses no field the Kubernetes API types do not know (a typo would be dropped silently)', () => {
    const known = new Set<string>();
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v !== null && typeof v === 'object') {
        for (const [k, child] of Object.entries(v)) {
          if (child === undefined) continue;
          known.add(k);
          walk(child);
        }
      }
    };
    walk(docs);
    // Keys in the YAML text: outside comments and outside the JSON block scalars (quoted keys).
    const keys = [...text.matchAll(/^\s*(?:- )?([A-Za-z][\w./-]*):(?:\s|$)/gm)].map((m) => m[1]!);
    expect(keys.length).toBeGreaterThan(100);
    expect(keys.filter((k) => !known.has(k))).toEqual([]);
  });

  it('grants exactly the rights the daemon uses, bound to its service account', () => {
    const role = byKind<V1ClusterRole>('ClusterRole');
    const rules = role.rules!.map((r) => ({ apiGroups: r.apiGroups, resources: r.resources, verbs: r.verbs, resourceNames: r.resourceNames }));
    expect(rules).toEqual([
      { apiGroups: [''], resources: ['pods'], verbs: ['get'], resourceNames: undefined },
      { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'], resourceNames: undefined },
      { apiGroups: [''], resources: ['nodes/status'], verbs: ['patch'], resourceNames: undefined },
    ]);
    const binding = byKind<V1ClusterRoleBinding>('ClusterRoleBinding');
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'flannel' });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'flannel', namespace: 'kube-flannel' }]);
    expect(pod.serviceAccountName).toBe('flannel');
  });

  it('ships upstream\'s cni-conf.json and a net-conf.json the daemon accepts', async () => {
    const cm = byKind<V1ConfigMap>('ConfigMap');
    expect(cm.metadata!.labels).toEqual({ tier: 'node', 'k8s-app': 'flannel', app: 'flannel' });
    expect(Object.keys(cm.data!).sort()).toEqual(['cni-conf.json', 'net-conf.json']);
    expect(JSON.parse(cm.data!['cni-conf.json']!)).toEqual({
      name: 'cbr0',
      cniVersion: '0.3.1',
      plugins: [
        { type: 'flannel', delegate: { hairpinMode: true, isDefaultGateway: true } },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    });
    const netConf = cm.data!['net-conf.json']!;
    expect(JSON.parse(netConf)).toEqual({ Network: '10.244.0.0/16', EnableNFTables: false, Backend: { Type: 'vxlan' } });
    // Our own parser, when the config module is present in this checkout.
    const parserPath = join(root, 'src/config/netconf.ts');
    if (existsSync(parserPath)) {
      const { parseNetConf } = (await import(parserPath)) as { parseNetConf: (t: string, s: string) => { backend: { type: string }; enableNFTables: boolean } };
      const parsed = parseNetConf(netConf, 'kube-flannel-cfg/net-conf.json');
      expect(parsed.backend.type).toBe('vxlan');
      expect(parsed.enableNFTables).toBe(false);
    }
  });

  it('schedules the DaemonSet like upstream', () => {
    expect(ds.metadata!.labels).toEqual({ tier: 'node', app: 'flannel', 'k8s-app': 'flannel' });
    expect(ds.spec!.selector.matchLabels).toEqual({ app: 'flannel' });
    expect(ds.spec!.template.metadata!.labels).toMatchObject({ app: 'flannel', tier: 'node' });
    expect(pod.hostNetwork).toBe(true);
    expect(pod.priorityClassName).toBe('system-node-critical');
    expect(pod.tolerations).toEqual([{ operator: 'Exists', effect: 'NoSchedule' }]);
    const terms = pod.affinity!.nodeAffinity!.requiredDuringSchedulingIgnoredDuringExecution!.nodeSelectorTerms;
    expect(terms).toEqual([{ matchExpressions: [{ key: 'kubernetes.io/os', operator: 'In', values: ['linux'] }] }]);
  });

  it('installs the upstream CNI plugin and our CNI config with install-conf from our image', () => {
    expect(pod.initContainers!.map((c) => c.name)).toEqual(['install-cni-plugin', 'install-cni']);
    const plugin = init('install-cni-plugin');
    expect(plugin.image).toBe('ghcr.io/flannel-io/flannel-cni-plugin:v1.9.1-flannel3');
    expect([...plugin.command!, ...plugin.args!]).toEqual(['cp', '-f', '/flannel', '/opt/cni/bin/flannel']);
    expect(plugin.volumeMounts).toEqual([{ name: 'cni-plugin', mountPath: '/opt/cni/bin' }]);
    const conf = init('install-cni');
    expect(conf.image).toBe(OUR_IMAGE);
    expect([...conf.command!, ...conf.args!]).toEqual(['/opt/bin/install-conf', '/etc/kube-flannel/cni-conf.json', '/etc/cni/net.d/10-flannel.conflist']);
    expect(conf.volumeMounts).toEqual([
      { name: 'cni', mountPath: '/etc/cni/net.d' },
      { name: 'flannel-cfg', mountPath: '/etc/kube-flannel/' },
    ]);
  });

  it('runs our image with upstream\'s command, args, env and rights', () => {
    expect(pod.containers.map((c) => c.name)).toEqual(['kube-flannel']);
    expect(flannel.image).toBe(OUR_IMAGE);
    const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
    expect(dockerfile).toContain(`ENTRYPOINT ["${flannel.command![0]}"]`);
    expect(flannel.command).toEqual(['/opt/bin/flanneld']);
    expect(flannel.args).toEqual(['--ip-masq', '--kube-subnet-mgr', '--healthz-port=8081']);
    expect(flannel.securityContext).toEqual({ privileged: false, capabilities: { add: ['NET_ADMIN', 'NET_RAW'] } });
    expect(flannel.resources).toEqual({ requests: { cpu: '25m', memory: '100Mi' } });
    expect(flannel.env).toEqual([
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: 'EVENT_QUEUE_DEPTH', value: '5000' },
      { name: 'CONT_WHEN_CACHE_NOT_READY', value: 'false' },
    ]);
  });

  it('probes /healthz and /readyz on the named port healthz (upstream\'s form), which the --healthz-port arg opens', () => {
    const arg = flannel.args!.find((a) => a.startsWith('--healthz-port='));
    const port = Number(arg!.split('=')[1]);
    expect(port).toBeGreaterThan(0);
    expect(flannel.ports!.find((p) => p.name === 'healthz')).toEqual({ name: 'healthz', containerPort: port, protocol: 'TCP' });
    expect(flannel.livenessProbe!.httpGet).toEqual({ path: '/healthz', port: 'healthz' });
    expect(flannel.readinessProbe!.httpGet).toEqual({ path: '/readyz', port: 'healthz' });
    expect([flannel.livenessProbe!.initialDelaySeconds, flannel.livenessProbe!.periodSeconds]).toEqual([10, 30]);
    expect([flannel.readinessProbe!.initialDelaySeconds, flannel.readinessProbe!.periodSeconds]).toEqual([5, 10]);
  });

  it('exposes metrics on the daemon\'s default port with Prometheus scrape annotations', () => {
    // The args do not set --metrics-port, so the daemon listens on its default.
    expect(flannel.args!.some((a) => a.startsWith('--metrics-port'))).toBe(false);
    expect(flannel.ports!.find((p) => p.name === 'metrics')).toEqual({ name: 'metrics', containerPort: DEFAULT_METRICS_PORT, protocol: 'TCP' });
    expect(ds.spec!.template.metadata!.annotations).toEqual({
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': String(DEFAULT_METRICS_PORT),
      'prometheus.io/path': '/metrics',
    });
    expect(DEFAULT_METRICS_PORT).not.toBe(8081);
  });

  it('mounts upstream\'s volumes, and every mount names a volume', () => {
    expect(pod.volumes).toEqual([
      { name: 'run', hostPath: { path: '/run/flannel' } },
      { name: 'cni-plugin', hostPath: { path: '/opt/cni/bin' } },
      { name: 'cni', hostPath: { path: '/etc/cni/net.d' } },
      { name: 'flannel-cfg', configMap: { name: 'kube-flannel-cfg' } },
      { name: 'xtables-lock', hostPath: { path: '/run/xtables.lock', type: 'FileOrCreate' } },
    ]);
    expect(flannel.volumeMounts).toEqual([
      { name: 'run', mountPath: '/run/flannel' },
      { name: 'flannel-cfg', mountPath: '/etc/kube-flannel/' },
      { name: 'xtables-lock', mountPath: '/run/xtables.lock' },
      // flanneld doctor reads the CNI config and plugins.
      { name: 'cni', mountPath: '/etc/cni/net.d', readOnly: true },
      { name: 'cni-plugin', mountPath: '/opt/cni/bin', readOnly: true },
    ]);
    const volumes = new Set(pod.volumes!.map((v) => v.name));
    for (const c of [...pod.containers, ...pod.initContainers!]) {
      for (const m of c.volumeMounts ?? []) expect(volumes.has(m.name), `${c.name} mounts ${m.name}`).toBe(true);
    }
  });
});
