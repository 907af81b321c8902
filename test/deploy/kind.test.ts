import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmod, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAllYaml, type V1ConfigMap } from '@kubernetes/client-node';

const root = fileURLToPath(new URL('../..', import.meta.url));
const kindDir = join(root, 'deploy/kind');
const manifest = loadAllYaml(readFileSync(join(root, 'deploy/kube-flannel.yml'), 'utf8')) as Array<{ kind: string }>;
const netConfText = (manifest.find((d) => d.kind === 'ConfigMap') as V1ConfigMap).data!['net-conf.json']!;

describe('deploy/kind', () => {
  it('configures a 1 + 2 node cluster without kindnet, on the ConfigMap\'s pod network', async () => {
    const [config] = loadAllYaml(await readFile(join(kindDir, 'kind-config.yaml'), 'utf8')) as Array<Record<string, unknown>>;
    expect(config).toEqual({
      kind: 'Cluster',
      apiVersion: 'kind.x-k8s.io/v1alpha4',
      networking: { disableDefaultCNI: true, podSubnet: JSON.parse(netConfText).Network },
      nodes: [{ role: 'control-plane' }, { role: 'worker' }, { role: 'worker' }],
    });
  });

  it('has an executable, syntactically valid script for every step', async () => {
    const scripts = (await readdir(kindDir)).filter((f) => f.endsWith('.sh')).sort();
    expect(scripts).toEqual(['common.sh', 'create-cluster.sh', 'cross-node-test.sh', 'deploy.sh', 'load-image.sh', 'switch-backend.sh', 'up.sh']);
    for (const s of scripts) {
      const r = spawnSync('bash', ['-n', join(kindDir, s)], { encoding: 'utf8' });
      expect(r.stderr, s).toBe('');
      if (s !== 'common.sh') expect((await stat(join(kindDir, s))).mode & 0o111, s).toBe(0o111);
    }
  });
});

describe('switch-backend.sh', () => {
  // A fake kubectl on PATH: answers `get configmap` with the manifest's net-conf.json and
  // `get nodes` with the new backend type, and records every call.
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switch-backend-'));
    await writeFile(join(dir, 'netconf'), netConfText);
    await writeFile(
      join(dir, 'kubectl'),
      `#!/bin/sh
printf '%s\\n' "$*" >> "${dir}/calls"
case "$*" in
  *"get configmap"*) cat "${dir}/netconf" ;;
  *"get nodes"*) printf 'host-gw\\nhost-gw\\nhost-gw\\n' ;;
esac
`,
    );
    await chmod(join(dir, 'kubectl'), 0o755);
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const run = (...args: string[]) =>
    spawnSync(join(kindDir, 'switch-backend.sh'), args, { encoding: 'utf8', env: { ...process.env, KUBECTL: join(dir, 'kubectl'), CLUSTER_NAME: 'c1' } });

  it('rewrites only Backend in net-conf.json with one JSON patch, then waits for the nodes', async () => {
    const r = run('host-gw');
    expect(r.stderr).toBe('switch-backend.sh: net-conf.json Backend.Type is now host-gw\nswitch-backend.sh: every node announces backend host-gw\n');
    expect(r.status).toBe(0);
    const calls = (await readFile(join(dir, 'calls'), 'utf8')).trim().split('\n');
    expect(calls).toHaveLength(3);
    expect(calls[0]).toBe("--context kind-c1 -n kube-flannel get configmap kube-flannel-cfg -o jsonpath={.data.net-conf\\.json}");
    const patchCall = calls[1]!;
    expect(patchCall.startsWith('--context kind-c1 -n kube-flannel patch configmap kube-flannel-cfg --type json -p ')).toBe(true);
    const patch = JSON.parse(patchCall.slice(patchCall.indexOf(' -p ') + 4)) as Array<{ op: string; path: string; value: string }>;
    expect(patch).toHaveLength(1);
    expect(patch[0]!.op).toBe('replace');
    expect(patch[0]!.path).toBe('/data/net-conf.json');
    expect(JSON.parse(patch[0]!.value)).toEqual({ ...JSON.parse(netConfText), Backend: { Type: 'host-gw' } });
    expect(calls[2]).toContain('get nodes');
  });

  it('refuses an unknown backend without touching the cluster', async () => {
    const r = run('vxlam');
    expect(r.status).toBe(2);
    expect(r.stderr).toBe("switch-backend.sh: unknown backend 'vxlam' (vxlan, host-gw or udp)\n");
    await expect(stat(join(dir, 'calls'))).rejects.toThrow(/ENOENT/);
  });

  it('makes the DaemonSet privileged for udp', async () => {
    const r = run('udp', '--no-wait');
    expect(r.status).toBe(0);
    const calls = await readFile(join(dir, 'calls'), 'utf8');
    expect(calls).toContain('patch daemonset kube-flannel-ds --type json -p [{"op":"replace","path":"/spec/template/spec/containers/0/securityContext/privileged","value":true}]');
  });
});
