/**
 * The values deploy/README.md gives for upstream's Helm chart, rendered into the fields of the
 * chart's DaemonSet they change, and compared with deploy/kube-flannel.yml. There is no helm
 * here: the fields below are how upstream's chart/kube-flannel/templates/daemonset.yaml
 * (v0.28.9) consumes its values, restated for exactly the values the README sets.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAllYaml, loadYaml, type V1DaemonSet } from '@kubernetes/client-node';
import { parseFlags } from '../../src/cli/flags.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const readme = readFileSync(join(root, 'deploy/README.md'), 'utf8');
const block = /<!-- helm-values:[^\n]*-->\n```yaml\n([\s\S]*?)```/.exec(readme);

/** upstream's chart/kube-flannel/values.yaml defaults for the keys the DaemonSet reads. */
const CHART_DEFAULTS = {
  flannel: {
    image: { repository: 'ghcr.io/flannel-io/flannel', tag: 'v0.28.9' },
    flannel_cni: { image: { repository: 'ghcr.io/flannel-io/flannel-cni-plugin', tag: 'v1.9.1-flannel3' } },
    args: ['--ip-masq', '--kube-subnet-mgr'],
    healthz: { port: 8081, livenessProbe: { initialDelaySeconds: 10, periodSeconds: 30 }, readinessProbe: { initialDelaySeconds: 5, periodSeconds: 10 } },
  },
};
type Values = typeof CHART_DEFAULTS;

function merge(base: unknown, over: unknown): unknown {
  if (typeof base !== 'object' || base === null || Array.isArray(base) || typeof over !== 'object' || over === null || Array.isArray(over)) return over ?? base;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(over)) {
    if (!(k in out)) throw new Error(`the README sets ${k}, which upstream's chart does not read`);
    out[k] = merge(out[k], v);
  }
  return out;
}

/** The DaemonSet fields the chart's template fills from these values (daemonset.yaml). */
function renderChart(v: Values) {
  const image = `${v.flannel.image.repository}:${v.flannel.image.tag}`;
  const port = v.flannel.healthz.port;
  return {
    installCniPlugin: { image: `${v.flannel.flannel_cni.image.repository}:${v.flannel.flannel_cni.image.tag}`, command: ['cp'], args: ['-f', '/flannel', '/opt/cni/bin/flannel'] },
    installCni: { image, command: ['/opt/bin/install-conf'], args: ['/etc/kube-flannel/cni-conf.json', '/etc/cni/net.d/10-flannel.conflist'] },
    flannel: {
      image,
      // The chart puts the flags into `command` after the binary.
      command: ['/opt/bin/flanneld', ...v.flannel.args, ...(port ? [`--healthz-port=${port}`] : [])],
      ports: [{ name: 'healthz', containerPort: port, protocol: 'TCP' }],
      livenessProbe: { httpGet: { path: '/healthz', port: 'healthz' }, ...v.flannel.healthz.livenessProbe },
      readinessProbe: { httpGet: { path: '/readyz', port: 'healthz' }, ...v.flannel.healthz.readinessProbe },
    },
  };
}

const ds = (loadAllYaml(readFileSync(join(root, 'deploy/kube-flannel.yml'), 'utf8')) as Array<{ kind: string }>).find((d) => d.kind === 'DaemonSet') as V1DaemonSet;
const pod = JSON.parse(JSON.stringify(ds.spec!.template.spec!)) as NonNullable<V1DaemonSet['spec']>['template']['spec'] & object;
const ours = pod.containers.find((c) => c.name === 'kube-flannel')!;

describe("deploy/README.md: values for upstream's Helm chart", () => {
  const values = merge(CHART_DEFAULTS, loadYaml(block?.[1] ?? 'null')) as Values;
  const chart = renderChart(values);

  it('sets only the image, to the one the manifest runs', () => {
    expect(block, 'a ```yaml block after <!-- helm-values --> in deploy/README.md').not.toBeNull();
    expect(loadYaml(block![1]!)).toEqual({ flannel: { image: { repository: values.flannel.image.repository, tag: values.flannel.image.tag } } });
    expect(chart.flannel.image).toBe(ours.image);
    expect(chart.installCni.image).toBe(pod.initContainers!.find((c) => c.name === 'install-cni')!.image);
  });

  it('renders init containers, command and probes that match the manifest', () => {
    const init = (name: string) => pod.initContainers!.find((c) => c.name === name)!;
    expect({ image: init('install-cni-plugin').image, command: init('install-cni-plugin').command, args: init('install-cni-plugin').args }).toEqual(chart.installCniPlugin);
    expect({ image: init('install-cni').image, command: init('install-cni').command, args: init('install-cni').args }).toEqual(chart.installCni);
    expect(ours.ports!.filter((p) => p.name === 'healthz')).toEqual(chart.flannel.ports);
    expect(ours.livenessProbe).toEqual(chart.flannel.livenessProbe);
    expect(ours.readinessProbe).toEqual(chart.flannel.readinessProbe);
  });

  it("the chart's command line gives the daemon the same options as the manifest's", () => {
    const fromChart = parseFlags(chart.flannel.command.slice(1), {});
    const fromManifest = parseFlags([...ours.command!.slice(1), ...ours.args!], {});
    expect(chart.flannel.command[0]).toBe(ours.command![0]);
    if (fromChart.kind !== 'run' || fromManifest.kind !== 'run') throw new Error('not a run');
    const { set: a, ...optsChart } = fromChart.options;
    const { set: b, ...optsManifest } = fromManifest.options;
    expect(optsChart).toEqual(optsManifest);
    expect([...a].sort()).toEqual([...b].sort());
  });
});
