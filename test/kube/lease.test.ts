import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LeaseAttrs } from '../../src/subnet/lease.ts';
import { createLogger } from '../../src/observe/log.ts';
import { flannelAnnotations, MAC1, PREFIX, startHarness, vxlanData, waitFor, type Harness } from './harness.ts';

const attrs: LeaseAttrs = { publicIp: '198.18.0.1', backendType: 'vxlan', backendData: vxlanData(MAC1) };
const STRATEGIC = 'application/strategic-merge-patch+json';
const READY = { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' };

describe('kube subnet manager: own lease (through client-node over HTTP)', () => {
  let h: Harness;
  const ac = new AbortController();
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  it('acquires the podCIDR lease and writes upstream’s exact annotation patch to nodes/<name>/status', async () => {
    h.api.createNode('node1', { podCIDR: '10.244.1.0/24', annotations: { dummy: 'value' }, conditions: [READY] });
    const mgr = await h.manager();
    expect(mgr.name).toBe('Kubernetes Subnet Manager - node1');
    const lease = await mgr.acquireLease(attrs, ac.signal);
    expect(lease.subnet).toEqual({ ip: 0x0af40100, prefixLen: 24 });
    expect(lease.attrs).toEqual(attrs);
    expect(mgr.state).toBe('ready');

    const patches = h.api.patches();
    expect(patches).toHaveLength(1);
    expect(patches[0]!.path).toBe('/api/v1/nodes/node1/status');
    expect(patches[0]!.contentType).toBe(STRATEGIC);
    expect(patches[0]!.body).toBe(
      '{"metadata":{"annotations":{' +
        '"flannel.alpha.coreos.com/backend-data":"{\\"VNI\\":1,\\"VtepMAC\\":\\"aa:bb:cc:00:00:01\\"}",' +
        '"flannel.alpha.coreos.com/backend-type":"vxlan",' +
        '"flannel.alpha.coreos.com/kube-subnet-manager":"true",' +
        '"flannel.alpha.coreos.com/public-ip":"198.18.0.1"}}}',
    );
    const stored = h.api.node('node1')!['metadata'] as { annotations: Record<string, string> };
    expect(stored.annotations).toEqual({ dummy: 'value', ...flannelAnnotations('198.18.0.1', MAC1) });
    expect(stored.annotations[`${PREFIX}backend-data`]).toBe('{"VNI":1,"VtepMAC":"aa:bb:cc:00:00:01"}');
  });

  it('sends no PATCH when the annotations already match, and only the changed key otherwise', async () => {
    h.api.createNode('node1', { podCIDR: '10.244.1.0/24', annotations: flannelAnnotations('198.18.0.1', MAC1) });
    const first = await h.manager();
    await first.acquireLease(attrs, ac.signal);
    expect(h.api.patches()).toHaveLength(0);

    const second = await h.manager();
    await second.acquireLease({ ...attrs, publicIp: '198.18.0.9' }, ac.signal);
    expect(h.api.patches().map((p) => p.body)).toEqual(['{"metadata":{"annotations":{"flannel.alpha.coreos.com/public-ip":"198.18.0.9"}}}']);
  });

  it('writes null backend-data and an empty backend-type for udp, on a node with no annotations at all', async () => {
    h.api.createNode('node1', { podCIDR: '10.244.1.0/24' });
    const mgr = await h.manager();
    await mgr.acquireLease({ publicIp: '198.18.0.1', backendType: '', backendData: 'null' }, ac.signal);
    expect(h.api.patches()[0]!.body).toBe(
      '{"metadata":{"annotations":{"flannel.alpha.coreos.com/backend-data":"null","flannel.alpha.coreos.com/backend-type":"","flannel.alpha.coreos.com/kube-subnet-manager":"true","flannel.alpha.coreos.com/public-ip":"198.18.0.1"}}}',
    );
  });

  it('publishes public-ip-overwrite instead of the real address (NAT)', async () => {
    h.api.createNode('node1', { podCIDR: '10.244.1.0/24', annotations: { [`${PREFIX}public-ip-overwrite`]: '203.0.113.7' } });
    const mgr = await h.manager();
    const lease = await mgr.acquireLease(attrs, ac.signal);
    expect(lease.attrs.publicIp).toBe('203.0.113.7');
    const ann = (h.api.node('node1')!['metadata'] as { annotations: Record<string, string> }).annotations;
    expect(ann[`${PREFIX}public-ip`]).toBe('203.0.113.7');
  });

  it('takes the last IPv4 entry of spec.podCIDRs', async () => {
    h.api.createNode('node1', { podCIDR: 'fd00:1::/64', podCIDRs: ['fd00:1::/64', '10.244.7.0/24'] });
    const lease = await (await h.manager()).acquireLease(attrs, ac.signal);
    expect(lease.subnet).toEqual({ ip: 0x0af40700, prefixLen: 24 });
  });

  it('refuses a podCIDR outside the Network with upstream’s error text', async () => {
    h.api.createNode('node1', { podCIDR: '10.99.1.0/24', annotations: {} });
    const mgr = await h.manager();
    await expect(mgr.acquireLease(attrs, ac.signal)).rejects.toThrow(
      'subnet "10.244.0.0/16" specified in the flannel net config doesn\'t contain "10.99.1.0/24" PodCIDR of the "node1" node',
    );
  });

  it('takes the lease from the node read by storedNodeInfo, and lists nodes only once the leases are watched', async () => {
    h.api.createNode('node1', { podCIDR: '10.244.1.0/24', annotations: flannelAnnotations('198.18.0.1', MAC1) });
    // Every list fails, so only the node GET can provide the lease; the list keeps retrying.
    h.api.failNext({ method: 'GET', path: '/api/v1/nodes' }, 500, 1000);
    const mgr = await h.manager();
    await mgr.storedNodeInfo(ac.signal);
    const lease = await mgr.acquireLease(attrs, ac.signal);
    expect(lease.subnet).toEqual({ ip: 0x0af40100, prefixLen: 24 });
    expect(h.api.patches()).toHaveLength(0);
    // The list (megabytes with thousands of nodes) waits for watchLeases, after subnet.env.
    expect(h.api.countRequests({ method: 'GET', path: '/api/v1/nodes' })).toBe(0);
    mgr.watchLeases(() => undefined, ac.signal);
    await waitFor(() => h.api.countRequests({ method: 'GET', path: '/api/v1/nodes' }) > 0); // the list runs, failing
  });

  it('waits for a late podCIDR, reports the waiting state, and proceeds when it appears', async () => {
    h.api.createNode('node1', { annotations: { dummy: 'value' } });
    const mgr = await h.manager();
    const pending = mgr.acquireLease(attrs, ac.signal);
    await waitFor(() => mgr.state === 'waiting-for-pod-cidr');
    expect(h.api.patches()).toHaveLength(0);
    h.api.setPodCIDR('node1', '10.244.3.0/24');
    const lease = await pending;
    expect(lease.subnet).toEqual({ ip: 0x0af40300, prefixLen: 24 });
    expect(mgr.state).toBe('ready');
    expect(h.api.patches()).toHaveLength(1);
  });

  it('gives up when the first node list does not complete within the deadline (upstream exits 1 after 10 min)', async () => {
    h.api.createNode('node1', { podCIDR: '10.244.5.0/24' });
    h.api.failNext({ method: 'GET', path: '/api/v1/nodes' }, 500, 40);
    const mgr = await h.manager({ syncTimeoutMs: 150 });
    await expect(mgr.acquireLease(attrs, ac.signal)).rejects.toThrow(
      'error waiting for nodeController to sync state: no complete list of nodes from the API server within 150 ms (set CONT_WHEN_CACHE_NOT_READY=true to keep waiting)',
    );
  });

  it('CONT_WHEN_CACHE_NOT_READY=true: logs upstream\'s line once at the deadline and keeps waiting for the list', async () => {
    h.api.createNode('node1', { podCIDR: '10.244.5.0/24' });
    h.api.failNext({ method: 'GET', path: '/api/v1/nodes' }, 500, 40);
    const lines: string[] = [];
    const log = createLogger({ format: 'json', destination: { write: (l: string) => (lines.push(l), true) } as unknown as NodeJS.WritableStream });
    const mgr = await h.manager({ syncTimeoutMs: 150, log, env: { NODE_NAME: 'node1', CONT_WHEN_CACHE_NOT_READY: 'true' } });
    const lease = await mgr.acquireLease(attrs, ac.signal);
    expect(lease.subnet).toEqual({ ip: 0x0af40500, prefixLen: 24 });
    const timedOut = lines.map((l) => JSON.parse(l) as { level: number; msg: string }).filter((r) => r.msg === 'Timed out waiting for node controller sync. Continuing anyway.');
    expect(timedOut.map((r) => r.level)).toEqual([50]);
  });

  it('waits for its node to be registered', async () => {
    const mgr = await h.manager();
    const pending = mgr.acquireLease(attrs, ac.signal);
    await waitFor(() => mgr.state === 'waiting-for-node');
    h.api.createNode('node1', { podCIDR: '10.244.4.0/24' });
    expect((await pending).subnet).toEqual({ ip: 0x0af40400, prefixLen: 24 });
  });

  it('reads the stored VtepMAC and node-public-ip back', async () => {
    h.api.createNode('node1', {
      podCIDR: '10.244.1.0/24',
      annotations: { ...flannelAnnotations('198.18.0.1', 'AA:BB:CC:00:00:05'), [`${PREFIX}node-public-ip`]: '198.18.0.50' },
    });
    const info = await (await h.manager()).storedNodeInfo(ac.signal);
    expect(info).toEqual({ publicIp: '198.18.0.50', vtepMac: 'aa:bb:cc:00:00:05', backendType: 'vxlan' });
  });

  it('reads stored info under a custom prefix (upstream misses it there)', async () => {
    h.api.createNode('node1', { podCIDR: '10.244.1.0/24', annotations: { 'org.com/x-backend-data': vxlanData(MAC1) } });
    const info = await (await h.manager({ prefix: 'org.com/x' })).storedNodeInfo(ac.signal);
    expect(info).toEqual({ vtepMac: MAC1 });
  });

  it('completeLease strategic-merges NetworkUnavailable=False beside the kubelet’s Ready condition', async () => {
    h.api.createNode('node1', {
      podCIDR: '10.244.1.0/24',
      conditions: [READY, { type: 'NetworkUnavailable', status: 'True', reason: 'NoRouteCreated', message: 'RouteController failed to create a route' }],
    });
    const mgr = await h.manager();
    await mgr.acquireLease(attrs, ac.signal);
    const before = h.api.patches().length;
    await mgr.completeLease(ac.signal);
    const patch = h.api.patches()[before]!;
    expect(patch.path).toBe('/api/v1/nodes/node1/status');
    expect(patch.contentType).toBe(STRATEGIC);
    expect(patch.body).toMatch(
      /^\{"status":\{"conditions":\[\{"type":"NetworkUnavailable","status":"False","lastHeartbeatTime":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)","lastTransitionTime":"\1","reason":"FlannelIsUp","message":"Flannel is running on this node"\}\]\}\}$/,
    );
    const conditions = (h.api.node('node1')!['status'] as { conditions: { type: string; status: string; reason: string }[] }).conditions;
    expect(conditions.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['Ready', 'True', 'KubeletReady'],
      ['NetworkUnavailable', 'False', 'FlannelIsUp'],
    ]);
  });

  it('completeLease does nothing with --set-node-network-unavailable=false', async () => {
    h.api.createNode('node1', { podCIDR: '10.244.1.0/24', annotations: flannelAnnotations('198.18.0.1', MAC1) });
    const mgr = await h.manager({ setNodeNetworkUnavailable: false });
    await mgr.acquireLease(attrs, ac.signal);
    await mgr.completeLease(ac.signal);
    expect(h.api.countRequests({ method: 'PATCH' })).toBe(0);
  });

  it('retries the annotation PATCH through API errors', async () => {
    h.api.createNode('node1', { podCIDR: '10.244.1.0/24' });
    h.api.failNext({ method: 'PATCH' }, 500, 2);
    const mgr = await h.manager();
    await mgr.acquireLease(attrs, ac.signal);
    expect(h.api.requests.filter((r) => r.method === 'PATCH').map((r) => r.status)).toEqual([500, 500, 200]);
  });
});

describe('node name resolution', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  it('uses spec.nodeName of POD_NAMESPACE/POD_NAME when NODE_NAME is empty', async () => {
    h.api.createPod('kube-flannel', 'kube-flannel-ds-abcde', 'worker-7');
    const mgr = await h.manager({ env: { NODE_NAME: '', POD_NAME: 'kube-flannel-ds-abcde', POD_NAMESPACE: 'kube-flannel' } });
    expect(mgr.nodeName).toBe('worker-7');
    expect(h.api.countRequests({ method: 'GET', path: '/api/v1/namespaces/kube-flannel/pods/kube-flannel-ds-abcde' })).toBe(1);
  });

  it('fails with upstream’s texts', async () => {
    await expect(h.manager({ env: { POD_NAME: 'p' } })).rejects.toThrow('env variables POD_NAME and POD_NAMESPACE must be set');
    h.api.createPod('ns', 'unscheduled');
    await expect(h.manager({ env: { POD_NAME: 'unscheduled', POD_NAMESPACE: 'ns' } })).rejects.toThrow("node name not present in pod spec 'ns/unscheduled'");
    await expect(h.manager({ env: { POD_NAME: 'ghost', POD_NAMESPACE: 'ns' } })).rejects.toThrow(/^error retrieving pod spec for 'ns\/ghost': .*HTTP 404: pods "ghost" not found/);
  });

  it('rejects a non-integer EVENT_QUEUE_DEPTH and a bad prefix before touching the API', async () => {
    await expect(h.manager({ env: { NODE_NAME: 'n', EVENT_QUEUE_DEPTH: 'lots' } })).rejects.toThrow('env EVENT_QUEUE_DEPTH=lots format error');
    await expect(h.manager({ prefix: 'org' })).rejects.toThrow('subnet/kube: prefix must be in a format: fqdn/[0-9a-z-_]*');
    expect(h.api.requests).toHaveLength(0);
  });
});
