/**
 * The container image's daemon, not the source tree's: scripts/build-image.sh lays out the
 * image tree (esbuild bundle with its client chunk, stubs, the addon, the launcher with its V8
 * flags), and a lab runs that launcher on every node. Pods must reach each other exactly as with
 * bin/flanneld — proof that the bundle loads client-node's config, the addon and every backend.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { daemonLabSkip, useLab } from './harness.ts';
import { runDoctor } from '../../lab/doctor.ts';

const { skip, why } = daemonLabSkip;
const root = fileURLToPath(new URL('../..', import.meta.url));

describe.skipIf(skip)(`the image's flanneld in the lab${skip ? ` (skipped: ${why})` : ''}`, () => {
  const out = mkdtempSync(join(tmpdir(), 'flannel-image-lab-'));
  beforeAll(() => {
    const r = spawnSync(join(root, 'scripts/build-image.sh'), ['--out', out], { cwd: root, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`build-image.sh failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  }, 180_000);
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  const lab = useLab({ nodes: 2, podsPerNode: 1, backend: 'vxlan', daemonCommand: [join(out, 'opt/bin/flanneld')] });

  it('writes subnet.env and connects pods across nodes', async () => {
    for (let i = 0; i < lab().nodeCount; i++) {
      expect(lab().node(i).subnetEnv()).toMatchObject({ networks: ['10.244.0.0/16'], subnet: lab().node(i).podCidr, mtu: 1450, ipMasq: true });
    }
    expect((await lab().waitForFullConnectivity(30_000)).failures).toEqual([]);
    expect((await lab().node(0).http('/readyz', 8081)).body).toBe('flanneld is ready');
  }, 60_000);

  it('runs flanneld doctor from the image (its addon, its client chunk): every check ok', async () => {
    const r = await runDoctor(lab().state, 0, ['--json'], join(out, 'opt/bin/flanneld'));
    const report = JSON.parse(r.stdout) as { exitCode: number; checks: { id: string; status: string; evidence: string }[] };
    expect(report.checks.filter((c) => c.status !== 'ok').map((c) => `${c.id}: ${c.evidence}`)).toEqual([]);
    expect(r.code).toBe(0);
  }, 60_000);
});
