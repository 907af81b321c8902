import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RecordedRequest } from '../../lab/apiserver/server.ts';
import type { LeaseAttrs } from '../../src/subnet/lease.ts';
import { collectEvents, flannelAnnotations, MAC1, startHarness, vxlanData, waitFor, type Harness } from './harness.ts';

/*
 * How the node list+watch treats the API server, through the real client over HTTP against the
 * API double: paged lists, continue-token expiry, watch timeouts and bookmarks, and when it
 * relists. Backoffs here are ten minutes long, so a test that passes shows the loop did not wait
 * for one (the test timeout is one minute).
 */

const attrs: LeaseAttrs = { publicIp: '198.18.0.1', backendType: 'vxlan', backendData: vxlanData(MAC1) };
const LONG_BACKOFF = { initialMs: 600_000, maxMs: 600_000 };

const isList = (r: RecordedRequest): boolean => r.method === 'GET' && r.path === '/api/v1/nodes' && r.query['watch'] === undefined;
const isWatch = (r: RecordedRequest): boolean => r.path === '/api/v1/nodes' && r.query['watch'] === 'true';

function addPeers(h: Harness, from: number, to: number): void {
  for (let i = from; i <= to; i++) {
    h.api.createNode(`node${i}`, { podCIDR: `10.244.${i}.0/24`, annotations: flannelAnnotations(`198.18.0.${i}`, `aa:bb:cc:00:00:${i.toString(16).padStart(2, '0')}`) });
  }
}

describe('kube subnet manager: API etiquette', () => {
  let h: Harness;
  let ac: AbortController;
  beforeEach(() => {
    ac = new AbortController();
  });
  afterEach(async () => {
    ac.abort();
    await h.close();
  });

  it('lists in pages from one snapshot and watches from its resourceVersion', async () => {
    h = await startHarness({ bookmarkIntervalMs: 60_000 });
    addPeers(h, 1, 7);
    const snapshotRv = h.api.store.revision;
    let created = false;
    // A node created between two pages is not in the list (every page comes from the first one's
    // snapshot) but arrives through the watch, which starts at the snapshot's resourceVersion.
    h.api.beforeRequest = (r) => {
      if (r.query['continue'] !== undefined && !created) {
        created = true;
        addPeers(h, 8, 8);
      }
    };
    const mgr = await h.manager({ reflector: { pageSize: 3 } });
    const sink = collectEvents(mgr, ac.signal);
    await mgr.acquireLease(attrs, ac.signal);
    await waitFor(() => sink.events.length === 7);
    const lists = h.api.requests.filter(isList);
    expect(lists.map((r) => [r.query['limit'], r.query['continue'] === undefined ? 'first' : 'next', r.status])).toEqual([
      ['3', 'first', 200],
      ['3', 'next', 200],
      ['3', 'next', 200],
    ]);
    // The list's six peers (node1 is this node) in one batch, then node8 from the watch.
    expect(sink.batches).toBe(2);
    expect(sink.events.slice(0, 6).map((e) => e.split(' ')[2])).toEqual(['node2', 'node3', 'node4', 'node5', 'node6', 'node7']);
    expect(sink.events[6]).toBe('added 10.244.8.0/24 node8 198.18.0.8');
    const watch = h.api.requests.find(isWatch)!;
    expect(watch.query['resourceVersion']).toBe(String(snapshotRv));
    expect(mgr.stats.relists).toBe(0);
  });

  it('starts the list over at once when its continue token expires between pages', async () => {
    h = await startHarness();
    addPeers(h, 1, 5);
    let compacted = 0;
    h.api.beforeRequest = (r) => {
      if (r.query['continue'] !== undefined && compacted === 0) {
        compacted++;
        h.api.createPod('kube-system', 'p'); // a write after the list's snapshot, then a compaction past it
        h.api.compact();
      }
    };
    const mgr = await h.manager({ reflector: { pageSize: 2 }, backoff: LONG_BACKOFF });
    await mgr.acquireLease(attrs, ac.signal);
    const sink = collectEvents(mgr, ac.signal);
    await waitFor(() => sink.events.length === 4);
    const lists = h.api.requests.filter(isList).map((r) => `${r.query['continue'] === undefined ? 'first' : 'next'} ${r.status}`);
    expect(lists).toEqual(['first 200', 'next 410', 'first 200', 'next 200', 'next 200']);
    expect(sink.batches).toBe(1);
    expect(mgr.stats).toMatchObject({ relists: 0, apiErrors: 0 });
  });

  it('asks for 5–10 minute watches with bookmarks, and resumes an ended watch from the last bookmark without relisting', async () => {
    h = await startHarness({ bookmarkIntervalMs: 50 });
    addPeers(h, 1, 2);
    const mgr = await h.manager({ backoff: LONG_BACKOFF });
    await mgr.acquireLease(attrs, ac.signal);
    const sink = collectEvents(mgr, ac.signal);
    await waitFor(() => sink.batches === 1 && h.api.openWatches === 1);
    const first = h.api.requests.find(isWatch)!;
    expect(first.query['allowWatchBookmarks']).toBe('true');
    const timeout = Number(first.query['timeoutSeconds']);
    expect(timeout).toBeGreaterThanOrEqual(300);
    expect(timeout).toBeLessThan(600);

    // A write nodes do not see (a pod) moves the resourceVersion; only a bookmark tells the watch.
    h.api.createPod('kube-system', 'p', 'node1');
    const moved = h.api.store.revision;
    await waitFor(() => h.api.lastBookmark >= moved);
    h.api.endWatches(); // as at the end of timeoutSeconds: everything written is read first
    await waitFor(() => h.api.requests.filter(isWatch).length === 2 && h.api.openWatches === 1);
    const second = h.api.requests.filter(isWatch)[1]!;
    expect(Number(second.query['resourceVersion'])).toBeGreaterThanOrEqual(moved);
    expect(h.api.requests.filter(isList)).toHaveLength(1);
    expect(mgr.stats.watchRestarts).toEqual({ expiry: 1, error: 0 });
    expect(mgr.stats).toMatchObject({ relists: 0, apiErrors: 0 });

    // The resumed watch carries on.
    addPeers(h, 3, 3);
    await waitFor(() => sink.events.length === 2);
    expect(sink.events[1]).toBe('added 10.244.3.0/24 node3 198.18.0.3');
  });

  it('relists at once after 410 Gone, whatever the backoff, and counts it as an expiry, not an error', async () => {
    h = await startHarness({ bookmarkIntervalMs: 60_000 });
    addPeers(h, 1, 3);
    const mgr = await h.manager({ backoff: LONG_BACKOFF });
    await mgr.acquireLease(attrs, ac.signal);
    const sink = collectEvents(mgr, ac.signal);
    await waitFor(() => sink.batches === 1 && h.api.openWatches === 1);
    h.api.deleteNode('node3');
    await waitFor(() => sink.events.length === 3);
    // The server ends the watch; before the client is back, node2 goes and the watch history is
    // forgotten (a restart of the server's watch cache), so the re-opened watch's resourceVersion
    // is too old.
    let expired = false;
    h.api.beforeRequest = (r) => {
      if (isWatch(r) && !expired) {
        expired = true;
        h.api.deleteNode('node2');
        h.api.expireHistory();
      }
    };
    h.api.endWatches();
    await waitFor(() => sink.events.length === 4);
    expect(sink.events[3]).toBe('removed 10.244.2.0/24 node2 198.18.0.2');
    expect(mgr.stats).toMatchObject({ relists: 1, apiErrors: 0 });
    expect(mgr.stats.watchRestarts.error).toBe(0);
    expect(h.api.requests.filter(isList)).toHaveLength(2);
  });
});
