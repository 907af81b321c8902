import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LeaseAttrs } from '../../src/subnet/lease.ts';
import type { KubeSubnetManager } from '../../src/subnet/kube/manager.ts';
import { collectEvents, flannelAnnotations, MAC1, PREFIX, startHarness, vxlanData, waitFor, type Harness } from './harness.ts';

const attrs: LeaseAttrs = { publicIp: '198.18.0.1', backendType: 'vxlan', backendData: vxlanData(MAC1) };

describe('kube subnet manager: peer leases (through client-node over HTTP)', () => {
  let h: Harness;
  let ac: AbortController;
  let mgr: KubeSubnetManager;

  beforeEach(async () => {
    h = await startHarness({ bookmarkIntervalMs: 50 });
    ac = new AbortController();
    h.api.createNode('node1', { podCIDR: '10.244.1.0/24', annotations: flannelAnnotations('198.18.0.1', MAC1) });
    h.api.createNode('node2', { podCIDR: '10.244.2.0/24', annotations: flannelAnnotations('198.18.0.2', 'aa:bb:cc:00:00:02') });
    // Not a flannel node: no kube-subnet-manager annotation.
    h.api.createNode('plain', { podCIDR: '10.244.9.0/24', annotations: { dummy: 'value' } });
    mgr = await h.manager();
    await mgr.acquireLease(attrs, ac.signal);
  });
  afterEach(async () => {
    ac.abort();
    await h.close();
  });

  it('starts with every flannel peer as added, never the own node or non-flannel nodes', async () => {
    const sink = collectEvents(mgr, ac.signal);
    await waitFor(() => sink.batches === 1);
    expect(sink.events).toEqual(['added 10.244.2.0/24 node2 198.18.0.2']);
    expect(mgr.stats.knownPeers).toBe(1);
  });

  it('forwards add, attribute update, podCIDR change and delete of other nodes', async () => {
    const sink = collectEvents(mgr, ac.signal);
    await waitFor(() => sink.batches === 1);
    h.api.createNode('node3', { podCIDR: '10.244.3.0/24', annotations: flannelAnnotations('198.18.0.3', 'aa:bb:cc:00:00:03') });
    await waitFor(() => sink.events.length === 2);
    h.api.setAnnotations('node3', { [`${PREFIX}public-ip`]: '198.18.0.33' });
    await waitFor(() => sink.events.length === 3);
    h.api.setPodCIDR('node3', '10.244.33.0/24');
    await waitFor(() => sink.events.length === 5);
    h.api.setAnnotations('node3', { dummy: 'irrelevant change' });
    h.api.deleteNode('node3');
    await waitFor(() => sink.events.length === 6);
    expect(sink.events).toEqual([
      'added 10.244.2.0/24 node2 198.18.0.2',
      'added 10.244.3.0/24 node3 198.18.0.3',
      'added 10.244.3.0/24 node3 198.18.0.33',
      'removed 10.244.3.0/24 node3 198.18.0.33',
      'added 10.244.33.0/24 node3 198.18.0.33',
      'removed 10.244.33.0/24 node3 198.18.0.33',
    ]);
  });

  it('drops a peer claiming the own subnet, and removes a node that stops being a flannel node', async () => {
    const sink = collectEvents(mgr, ac.signal);
    await waitFor(() => sink.batches === 1);
    h.api.createNode('impostor', { podCIDR: '10.244.1.0/24', annotations: flannelAnnotations('198.18.0.66', 'aa:bb:cc:00:00:66') });
    h.api.setAnnotations('node2', { [`${PREFIX}kube-subnet-manager`]: null });
    await waitFor(() => sink.events.length === 2);
    expect(sink.events).toEqual(['added 10.244.2.0/24 node2 198.18.0.2', 'removed 10.244.2.0/24 node2 198.18.0.2']);
    expect(mgr.stats.knownPeers).toBe(0);
  });

  it('skips malformed peers with a count, keeps the rest working, and picks them up once fixed', async () => {
    const sink = collectEvents(mgr, ac.signal);
    await waitFor(() => sink.batches === 1);
    h.api.createNode('bad-ip', { podCIDR: '10.244.4.0/24', annotations: flannelAnnotations('not-an-ip', 'aa:bb:cc:00:00:04') });
    h.api.createNode('bad-data', {
      podCIDR: '10.244.5.0/24',
      annotations: { ...flannelAnnotations('198.18.0.5', 'x'), [`${PREFIX}backend-data`]: '{"VNI":1,' },
    });
    h.api.createNode('no-cidr', { annotations: flannelAnnotations('198.18.0.6', 'aa:bb:cc:00:00:06') });
    h.api.createNode('good', { podCIDR: '10.244.7.0/24', annotations: flannelAnnotations('198.18.0.7', 'aa:bb:cc:00:00:07') });
    await waitFor(() => sink.events.length === 2);
    expect(sink.events[1]).toBe('added 10.244.7.0/24 good 198.18.0.7');
    expect(mgr.stats).toMatchObject({ malformedPeersSkipped: 3, malformedPeers: 3, knownPeers: 2 });

    // The same problem again (any unrelated update) is not counted twice.
    h.api.setAnnotations('bad-ip', { dummy: 'touched' });
    h.api.setAnnotations('bad-ip', { [`${PREFIX}public-ip`]: '198.18.0.4' });
    h.api.setPodCIDR('no-cidr', '10.244.6.0/24');
    await waitFor(() => sink.events.length === 4);
    expect(sink.events.slice(2)).toEqual(['added 10.244.4.0/24 bad-ip 198.18.0.4', 'added 10.244.6.0/24 no-cidr 198.18.0.6']);
    expect(mgr.stats).toMatchObject({ malformedPeersSkipped: 3, malformedPeers: 1, knownPeers: 4 });
  });

  it('reconnects after the watch connection drops, without relisting', async () => {
    const sink = collectEvents(mgr, ac.signal);
    await waitFor(() => sink.batches === 1);
    const isList = (r: { path: string; query: Readonly<Record<string, string>> }): boolean => r.path === '/api/v1/nodes' && r.query['watch'] === undefined;
    const lists = h.api.requests.filter(isList).length;
    await waitFor(() => h.api.openWatches === 1);
    const watchesBefore = h.api.requests.filter((r) => r.query['watch'] !== undefined).length;
    h.api.dropWatches();
    await waitFor(() => h.api.openWatches === 1 && h.api.requests.filter((r) => r.query['watch'] !== undefined).length > watchesBefore);
    h.api.createNode('node3', { podCIDR: '10.244.3.0/24', annotations: flannelAnnotations('198.18.0.3', 'aa:bb:cc:00:00:03') });
    await waitFor(() => sink.events.length === 2);
    expect(sink.events[1]).toBe('added 10.244.3.0/24 node3 198.18.0.3');
    expect(mgr.stats.watchRestarts.error).toBeGreaterThanOrEqual(1);
    expect(mgr.stats.relists).toBe(0);
    expect(h.api.requests.filter(isList)).toHaveLength(lists);
  });

  it('relists after 410 Gone and emits the difference: a node deleted while disconnected is removed', async () => {
    const sink = collectEvents(mgr, ac.signal);
    await waitFor(() => sink.batches === 1);
    await h.api.stop();
    h.api.deleteNode('node2');
    h.api.createNode('node4', { podCIDR: '10.244.4.0/24', annotations: flannelAnnotations('198.18.0.4', 'aa:bb:cc:00:00:04') });
    h.api.expireHistory();
    await h.api.start();
    await waitFor(() => sink.events.length === 3);
    expect(sink.events.slice(1).sort()).toEqual(['added 10.244.4.0/24 node4 198.18.0.4', 'removed 10.244.2.0/24 node2 198.18.0.2']);
    expect(mgr.stats.relists).toBe(1);
    // The watch carries on after the relist.
    h.api.deleteNode('node4');
    await waitFor(() => sink.events.length === 4);
    expect(sink.events[3]).toBe('removed 10.244.4.0/24 node4 198.18.0.4');
  });

  it('survives an API server stop and restart, replaying what changed from the last resourceVersion', async () => {
    const sink = collectEvents(mgr, ac.signal);
    await waitFor(() => sink.batches === 1);
    await h.api.stop();
    h.api.setAnnotations('node2', { [`${PREFIX}public-ip`]: '198.18.0.22' });
    await h.api.start();
    await waitFor(() => sink.events.length === 2);
    expect(sink.events[1]).toBe('added 10.244.2.0/24 node2 198.18.0.22');
    expect(mgr.stats.relists).toBe(0);
    expect(mgr.stats.watchRestarts.error).toBeGreaterThanOrEqual(1);
  });

  it('keeps watching through HTTP errors that stop client-node’s informer', async () => {
    const sink = collectEvents(mgr, ac.signal);
    await waitFor(() => sink.batches === 1);
    await waitFor(() => h.api.openWatches === 1);
    h.api.failNext({ method: 'GET', path: '/api/v1/nodes' }, 500, 3);
    h.api.dropWatches();
    await waitFor(() => h.api.requests.filter((r) => r.status === 500).length === 3);
    h.api.createNode('node3', { podCIDR: '10.244.3.0/24', annotations: flannelAnnotations('198.18.0.3', 'aa:bb:cc:00:00:03') });
    await waitFor(() => sink.events.length === 2);
    expect(mgr.stats.apiErrors).toBeGreaterThanOrEqual(3);
  });
});
