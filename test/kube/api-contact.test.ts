/**
 * Contact with the API server as the daemon reports it (issue 10 item 3), through the real client
 * over HTTP against the API double in this process: a stopped server (connections refused) is one
 * loss line, one restored line with the outage, nothing in between at warning level; a 410 after
 * it is one line, and the relist one more with what changed among the peers. A blackholed
 * connection needs a network namespace: test/lab/api-contact.test.ts.
 */
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LeaseAttrs } from '../../src/subnet/lease.ts';
import type { KubeSubnetManager } from '../../src/subnet/kube/manager.ts';
import { collectEvents, flannelAnnotations, MAC1, PREFIX, startHarness, vxlanData, waitFor, type Harness } from './harness.ts';

const attrs: LeaseAttrs = { publicIp: '198.18.0.1', backendType: 'vxlan', backendData: vxlanData(MAC1) };

interface Record {
  readonly level: number;
  readonly msg: string;
  readonly [k: string]: unknown;
}

const WARN = 40;

describe('contact with the API server (through client-node over HTTP)', () => {
  let h: Harness;
  let ac: AbortController;
  let mgr: KubeSubnetManager;
  let records: Record[];

  beforeEach(async () => {
    h = await startHarness({ bookmarkIntervalMs: 50 });
    ac = new AbortController();
    records = [];
    const log = pino({ level: 'debug', base: undefined }, { write: (s: string) => void records.push(JSON.parse(s) as Record) });
    h.api.createNode('node1', { podCIDR: '10.244.1.0/24', annotations: flannelAnnotations('198.18.0.1', MAC1) });
    h.api.createNode('node2', { podCIDR: '10.244.2.0/24', annotations: flannelAnnotations('198.18.0.2', 'aa:bb:cc:00:00:02') });
    h.api.createNode('node3', { podCIDR: '10.244.3.0/24', annotations: flannelAnnotations('198.18.0.3', 'aa:bb:cc:00:00:03') });
    mgr = await h.manager({ log, env: { NODE_NAME: 'node1', FLANNEL_API_SILENCE_SECONDS: '2' } });
    await mgr.acquireLease(attrs, ac.signal);
    const sink = collectEvents(mgr, ac.signal);
    await waitFor(() => sink.batches === 1);
    await waitFor(() => h.api.openWatches === 1);
  });
  afterEach(async () => {
    ac.abort();
    await h.close();
  });

  const since = (from: number) => records.slice(from);
  const msgs = (from: number) => since(from).map((r) => r.msg);

  it('a stopped server: one loss line, quiet retries, one restored line with the outage', async () => {
    const contact = mgr.contact!;
    expect(contact.stats).toMatchObject({ inContact: true, losses: 0 });
    const from = records.length;
    await h.api.stop();
    await waitFor(() => contact.isLost);
    // Retries go on against the refusing port; none of them is news.
    const retried = h.api.countRequests();
    await waitFor(() => records.filter((r) => /^(node watch ended|listing nodes failed)/.test(r.msg)).length >= 4);
    const lost = since(from).filter((r) => r.msg.startsWith('Lost contact'));
    expect(lost).toEqual([
      expect.objectContaining({
        level: WARN,
        msg: expect.stringMatching(
          /^Lost contact with the API server http:\/\/127\.0\.0\.1:\d+: requests fail without an answer: connect ECONNREFUSED 127\.0\.0\.1:\d+; routes stay as programmed, changes to other nodes wait until it is back$/,
        ),
      }),
    ]);
    expect(contact.note()).toMatch(/^lost contact with the API server http:\/\/127\.0\.0\.1:\d+ \(last contact \d+\.\d s ago; requests fail without an answer: .*ECONNREFUSED/);
    expect(contact.stats).toMatchObject({ inContact: false, losses: 1 });
    const lossAt = records.indexOf(lost[0]!);

    await h.api.start();
    await waitFor(() => !contact.isLost);
    expect(h.api.countRequests()).toBeGreaterThanOrEqual(retried);
    const restored = since(lossAt).filter((r) => r.msg.startsWith('Contact with the API server'));
    expect(restored).toEqual([
      expect.objectContaining({ msg: expect.stringMatching(/^Contact with the API server http:\/\/127\.0\.0\.1:\d+ restored after \d+\.\d s without contact$/), outageSeconds: expect.any(Number) }),
    ]);
    // Between the loss and its end every failed retry was logged at debug level only.
    const between = records.slice(lossAt + 1, records.indexOf(restored[0]!));
    expect(between.filter((r) => r.level >= WARN)).toEqual([]);
    expect(between.length).toBeGreaterThan(0);
    expect(contact.stats.lastOutageMs).toBeGreaterThan(0);
    expect(contact.stats.lastContactMs).toBeGreaterThan(Date.now() - 60_000);
    expect(contact.note()).toBeUndefined();
    expect(msgs(from).filter((m) => m.startsWith('Lost contact'))).toHaveLength(1);
  });

  it('a 410 after an outage: the expiry and the relist are logged once, with the peers added, removed and changed', async () => {
    const from = records.length;
    await h.api.stop();
    h.api.deleteNode('node2');
    h.api.createNode('node4', { podCIDR: '10.244.4.0/24', annotations: flannelAnnotations('198.18.0.4', 'aa:bb:cc:00:00:04') });
    h.api.setAnnotations('node3', { [`${PREFIX}public-ip`]: '198.18.0.33' });
    h.api.createNode('plain', { podCIDR: '10.244.9.0/24', annotations: { dummy: 'value' } }); // not a flannel node: not a peer
    h.api.expireHistory();
    await h.api.start();
    await waitFor(() => records.some((r) => r.msg.startsWith('relisted')));
    expect(msgs(from).filter((m) => /410|relisted/.test(m))).toEqual([
      'node watch expired (410 Gone); relisting',
      'relisted 4 nodes after 410 Gone: 1 added, 1 removed, 1 changed among the peers',
    ]);
    expect(mgr.contact!.stats).toMatchObject({ expired: 1, relistChanges: { added: 1, removed: 1, changed: 1 } });
    expect(mgr.stats.relists).toBe(1);
  });
});
