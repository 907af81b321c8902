/**
 * Loud when it loses the API (issue 10 item 3), one 2-node vxlan lab whose daemons take 4 s of
 * silence for a lost API server (FLANNEL_API_SILENCE_SECONDS; the double sends a bookmark every
 * second, as a real server does every minute against the default limit of 75 s):
 *  - the API server's connections blackholed in its namespace (iptables DROP both ways, no RST):
 *    one loss line, /readyz still 200 with the loss below the verdict, the contact gauge 0, pods
 *    still reach each other; once the rules go, one restored line with the outage;
 *  - the API server stopped (connections refused): one loss line naming the refusal; once it is
 *    back (with a node that appeared meanwhile, as another API server would have written it), the
 *    restored line, the 410 of the old watch and the relist that found the new peer.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runIn } from '../../lab/harness/exec.ts';
import type { Lab, LabNode } from '../../lab/lab.ts';
import { eventually, HEALTH_PORT, logRecords, PREFIX, sample, scrape } from './daemon-helpers.ts';
import { daemonLabSkip, useLab } from './harness.ts';

const { skip, why } = daemonLabSkip;
const SERVER = 'http://198.18.0.254:6443';
const LOSS_TAIL = '; routes stay as programmed, changes to other nodes wait until it is back';

type Rec = Record<string, unknown>;
const msgsSince = (n: LabNode, from: number): string[] => logRecords(n).slice(from).map((r: Rec) => String(r['msg']));
const matching = (n: LabNode, from: number, re: RegExp): string[] => msgsSince(n, from).filter((m) => re.test(m));

async function metrics(n: LabNode): Promise<Record<string, number>> {
  const { samples } = await scrape(n);
  return Object.fromEntries(
    [
      'flannel_kube_api_contact',
      'flannel_kube_api_contact_losses_total',
      'flannel_kube_api_last_outage_seconds',
      'flannel_kube_api_last_contact_timestamp_seconds',
      'flannel_kube_watch_expired_total',
    ].map((m) => [m, sample(samples, m)]),
  );
}

/**
 * Writes a node into the stopped double's saved objects, one resourceVersion on, as if another API
 * server had stored it during the outage: the restarted double's watch window starts after it.
 */
function addNodeToStoppedServer(lab: Lab, name: string, podCidr: string, publicIp: string): void {
  const file = join(lab.state.runDir, 'apiserver-state.json');
  const state = JSON.parse(readFileSync(file, 'utf8')) as { revision: number; nodes: unknown[] };
  state.revision++;
  state.nodes.push({
    kind: 'Node',
    apiVersion: 'v1',
    metadata: {
      name,
      uid: `${name}-uid`,
      resourceVersion: String(state.revision),
      creationTimestamp: '2026-01-01T00:00:00Z',
      annotations: {
        [`${PREFIX}backend-data`]: '{"VNI":1,"VtepMAC":"0e:2a:00:00:00:99"}',
        [`${PREFIX}backend-type`]: 'vxlan',
        [`${PREFIX}kube-subnet-manager`]: 'true',
        [`${PREFIX}public-ip`]: publicIp,
      },
    },
    spec: { podCIDR: podCidr, podCIDRs: [podCidr] },
    status: { conditions: [] },
  });
  writeFileSync(file, JSON.stringify(state));
}

async function expectPodsTalk(lab: Lab): Promise<void> {
  expect(await lab.ping(lab.pod(0, 0), lab.pod(1, 0))).toBe(true);
  expect(await lab.ping(lab.pod(1, 0), lab.pod(0, 0))).toBe(true);
}

describe.skipIf(skip)(`loud API loss, vxlan${skip ? ` (skipped: ${why})` : ''}`, () => {
  const lab = useLab({ nodes: 2, backend: 'vxlan', daemonEnv: { FLANNEL_API_SILENCE_SECONDS: '4' }, apiBookmarkIntervalMs: 1000 });

  it('a blackholed API server: one loss line, ready with the loss in the body, one restored line with the outage', async () => {
    const n = lab().node(0);
    await eventually(async () => expect(await n.http('/readyz', HEALTH_PORT)).toEqual({ status: 200, body: 'flanneld is ready' }), 30_000);
    expect(await metrics(n)).toMatchObject({ flannel_kube_api_contact: 1, flannel_kube_api_contact_losses_total: 0 });
    const from = logRecords(n).length;
    const underlay = lab().state.underlayNetns;
    const rules = [
      ['INPUT', '-p', 'tcp', '--dport', '6443', '-j', 'DROP'],
      ['OUTPUT', '-p', 'tcp', '--sport', '6443', '-j', 'DROP'],
    ];
    for (const r of rules) await runIn(underlay, ['iptables', '-w', '-I', ...r]);
    let lastContact: number;
    try {
      await eventually(() => expect(matching(n, from, /^Lost contact/)).toHaveLength(1), 30_000);
      expect(matching(n, from, /^Lost contact/)[0]).toMatch(
        new RegExp(`^Lost contact with the API server ${SERVER}: nothing received for \\d+\\.\\d s \\(no event, no bookmark; limit 4\\.0 s\\)${LOSS_TAIL}$`),
      );
      const ready = await n.http('/readyz', HEALTH_PORT);
      expect(ready.status).toBe(200);
      expect(ready.body).toMatch(
        new RegExp(`^flanneld is ready\\nwarning: lost contact with the API server ${SERVER} \\(last contact \\d+\\.\\d s ago; nothing received for \\d+\\.\\d s \\(no event, no bookmark; limit 4\\.0 s\\)\\)${LOSS_TAIL}$`),
      );
      const m = await metrics(n);
      expect(m).toMatchObject({ flannel_kube_api_contact: 0, flannel_kube_api_contact_losses_total: 1 });
      lastContact = m['flannel_kube_api_last_contact_timestamp_seconds']!;
      expect(lastContact).toBeGreaterThan(0);
      // The datapath does not need the API server.
      await expectPodsTalk(lab());
      expect(await n.http('/healthz', HEALTH_PORT)).toEqual({ status: 200, body: 'flanneld is running' });
    } finally {
      for (const r of rules) await runIn(underlay, ['iptables', '-w', '-D', ...r]);
    }
    await eventually(() => expect(matching(n, from, /^Contact with the API server/)).toHaveLength(1), 60_000);
    expect(matching(n, from, /^Contact with the API server/)[0]).toMatch(new RegExp(`^Contact with the API server ${SERVER} restored after \\d+\\.\\d s without contact$`));
    expect(matching(n, from, /^Lost contact/)).toHaveLength(1);
    const m = await metrics(n);
    expect(m).toMatchObject({ flannel_kube_api_contact: 1, flannel_kube_api_contact_losses_total: 1 });
    expect(m['flannel_kube_api_last_outage_seconds']).toBeGreaterThanOrEqual(4);
    expect(m['flannel_kube_api_last_contact_timestamp_seconds']).toBeGreaterThan(lastContact);
    expect(await n.http('/readyz', HEALTH_PORT)).toEqual({ status: 200, body: 'flanneld is ready' });
  }, 120_000);

  it('a stopped API server: one loss line naming the refusal; when it is back, the restored line, the 410 and the relist', async () => {
    const n = lab().node(1);
    // The blackhole of the test before cut this node too, and it may not have logged its restored
    // line yet (that test waits for node0's): contact first, so that line lands before the window.
    await eventually(async () => expect(await metrics(n)).toMatchObject({ flannel_kube_api_contact: 1 }), 60_000);
    const from = logRecords(n).length;
    const before = await metrics(n);
    await lab().stopApiServer();
    try {
      await eventually(() => expect(matching(n, from, /^Lost contact/)).toHaveLength(1), 30_000);
      expect(matching(n, from, /^Lost contact/)[0]).toBe(
        `Lost contact with the API server ${SERVER}: requests fail without an answer: connect ECONNREFUSED 198.18.0.254:6443${LOSS_TAIL}`,
      );
      const ready = await n.http('/readyz', HEALTH_PORT);
      expect(ready.status).toBe(200);
      expect(ready.body).toContain(`\nwarning: lost contact with the API server ${SERVER} (last contact `);
      expect(await metrics(n)).toMatchObject({ flannel_kube_api_contact: 0, flannel_kube_api_contact_losses_total: before['flannel_kube_api_contact_losses_total']! + 1 });
      await expectPodsTalk(lab());
      addNodeToStoppedServer(lab(), 'ghost', '10.244.99.0/24', '198.18.0.99');
    } finally {
      await lab().startApiServer();
    }
    await eventually(() => expect(matching(n, from, /^relisted/)).toHaveLength(1), 60_000);
    // The double restarted with its objects, one more, and no watch history: the old watch gets 410.
    expect(matching(n, from, /^(Lost contact|Contact with|node watch expired|relisted)/)).toEqual([
      expect.stringMatching(/^Lost contact/),
      expect.stringMatching(new RegExp(`^Contact with the API server ${SERVER} restored after \\d+\\.\\d s without contact$`)),
      'node watch expired (410 Gone); relisting',
      'relisted 3 nodes after 410 Gone: 1 added, 0 removed, 0 changed among the peers',
    ]);
    expect(await metrics(n)).toMatchObject({ flannel_kube_api_contact: 1, flannel_kube_watch_expired_total: before['flannel_kube_watch_expired_total']! + 1 });
    expect(await n.http('/readyz', HEALTH_PORT)).toEqual({ status: 200, body: 'flanneld is ready' });
  }, 120_000);
});
