import { execFileSync } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FakeApiServer } from '../../lab/apiserver/server.ts';
import { createKubeApi } from '../../src/subnet/kube/client.ts';

const READY = { type: 'Ready', status: 'True', reason: 'KubeletReady' };
const servers: FakeApiServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
});
async function start(opts: Parameters<typeof FakeApiServer.start>[0] = {}): Promise<FakeApiServer> {
  const s = await FakeApiServer.start(opts);
  servers.push(s);
  return s;
}
async function patch(s: FakeApiServer, path: string, type: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await fetch(s.url + path, { method: 'PATCH', headers: { 'Content-Type': type }, body: JSON.stringify(body) });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
}

describe('API server double over HTTP', () => {
  it('strategic merge keeps the kubelet’s condition; merge patch replaces the list', async () => {
    const s = await start();
    s.createNode('n1', { conditions: [READY] });
    const cond = { type: 'NetworkUnavailable', status: 'False' };
    const a = await patch(s, '/api/v1/nodes/n1/status', 'application/strategic-merge-patch+json', { status: { conditions: [cond] } });
    expect(a.status).toBe(200);
    expect((a.json['status'] as { conditions: unknown[] }).conditions).toEqual([READY, cond]);
    const b = await patch(s, '/api/v1/nodes/n1/status', 'application/merge-patch+json', { status: { conditions: [cond] } });
    expect((b.json['status'] as { conditions: unknown[] }).conditions).toEqual([cond]);
  });

  it('bumps one global resourceVersion per write and keeps spec on the status subresource', async () => {
    const s = await start();
    s.createNode('n1', { podCIDR: '10.244.1.0/24' });
    s.createPod('ns', 'p', 'n1');
    const r = await patch(s, '/api/v1/nodes/n1/status', 'application/strategic-merge-patch+json', { spec: { podCIDR: '1.1.1.0/24' }, metadata: { annotations: { k: 'v' } } });
    const meta = r.json['metadata'] as { resourceVersion: string; annotations: Record<string, string> };
    expect(meta.resourceVersion).toBe('3');
    expect(meta.annotations).toEqual({ k: 'v' });
    expect((r.json['spec'] as { podCIDR: string }).podCIDR).toBe('10.244.1.0/24');
  });

  it('answers with Status objects shaped like the real ones', async () => {
    const s = await start();
    s.createNode('n1');
    const missing = await fetch(s.url + '/api/v1/nodes/ghost');
    expect(missing.status).toBe(404);
    expect(await missing.text()).toBe(
      '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"nodes \\"ghost\\" not found","reason":"NotFound","details":{"name":"ghost","kind":"nodes"},"code":404}',
    );
    const bad = await patch(s, '/api/v1/nodes/n1/status', 'application/json', {});
    expect(bad.status).toBe(415);
    expect(bad.json['reason']).toBe('UnsupportedMediaType');
    const jsonPatchObject = await patch(s, '/api/v1/nodes/n1/status', 'application/json-patch+json', { metadata: {} });
    expect(jsonPatchObject.status).toBe(400);
  });

  it('streams watch events, replays from a resourceVersion, and sends 410 Expired once history is gone', async () => {
    const s = await start();
    s.createNode('n1');
    s.createNode('n2');
    s.deleteNode('n1');
    const text = async (rv: string): Promise<string[]> => {
      const ac = new AbortController();
      const r = await fetch(`${s.url}/api/v1/nodes?watch=1&resourceVersion=${rv}`, { signal: ac.signal });
      const reader = r.body!.getReader();
      const { value } = await reader.read();
      ac.abort();
      return new TextDecoder().decode(value).trim().split('\n').map((l) => {
        const ev = JSON.parse(l) as { type: string; object: { metadata: { name?: string; resourceVersion: string }; code?: number; message?: string } };
        return `${ev.type} ${ev.object.metadata.name ?? ev.object.code} ${ev.object.metadata.resourceVersion ?? ev.object.message}`;
      });
    };
    expect(await text('1')).toEqual(['ADDED n2 2', 'DELETED n1 3']);
    s.expireHistory();
    expect(await text('1')).toEqual(['ERROR 410 too old resource version: 1 (4)']);
    expect(await text('0')).toEqual(['ADDED n2 2']);
  });

  it('serves HTTPS with a bearer token, through client-node and the written kubeconfig', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'apiserver-tls-'));
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
        '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
      const s = await start({ tls: { cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), key: readFileSync(join(dir, 'key.pem'), 'utf8') }, token: 'sekret' });
      s.createNode('n1', { podCIDR: '10.244.1.0/24' });
      s.writeKubeconfig(join(dir, 'kubeconfig'));
      const api = await createKubeApi({ kubeconfigFile: join(dir, 'kubeconfig') });
      expect((await api.getNode('n1')).podCIDR).toBe('10.244.1.0/24');
      // --kube-api-url overrides the server but keeps the kubeconfig's CA and token.
      const overridden = await createKubeApi({ kubeconfigFile: join(dir, 'kubeconfig'), apiUrl: s.url });
      expect((await overridden.listNodes()).nodes).toHaveLength(1);
      expect(s.requests.every((r) => r.status === 200)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects requests without the bearer token', async () => {
    const s = await start({ token: 't' });
    const r = await fetch(s.url + '/api/v1/nodes');
    expect(r.status).toBe(401);
    expect(((await r.json()) as { reason: string }).reason).toBe('Unauthorized');
  });

  it('pages a list from one snapshot with etcd3-style continue tokens, and expires them on compaction', async () => {
    const s = await start();
    for (const n of ['n3', 'n1', 'n2']) s.createNode(n);
    const get = async (q: string): Promise<{ status: number; json: { metadata: Record<string, unknown>; items?: { metadata: { name: string } }[]; reason?: string } }> => {
      const r = await fetch(`${s.url}/api/v1/nodes?${q}`);
      return { status: r.status, json: (await r.json()) as never };
    };
    const first = await get('limit=2');
    expect(first.json.items!.map((i) => i.metadata.name)).toEqual(['n1', 'n2']);
    expect(first.json.metadata).toMatchObject({ resourceVersion: '3', remainingItemCount: 1 });
    const token = first.json.metadata['continue'] as string;
    expect(JSON.parse(Buffer.from(token, 'base64url').toString())).toEqual({ v: 'meta.k8s.io/v1', rv: 3, start: 'n2\u0000' });
    s.deleteNode('n3'); // after the snapshot: the next page still has it
    const second = await get(`limit=2&continue=${token}`);
    expect(second.json.items!.map((i) => i.metadata.name)).toEqual(['n3']);
    expect(second.json.metadata).toEqual({ resourceVersion: '3' });
    s.compact();
    const expired = await get(`limit=2&continue=${token}`);
    expect(expired.status).toBe(410);
    expect(expired.json.reason).toBe('Expired');
    expect((await get('continue=bm90LWEtdG9rZW4')).status).toBe(400);
  });

  it('serves on a unix socket too and counts requests by client and verb', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'apiserver-unix-'));
    try {
      const socketPath = join(dir, 'api.sock');
      const s = await start({ unixSocket: socketPath });
      s.createNode('n1');
      const viaSocket = (method: string, path: string, userAgent: string): Promise<number> =>
        new Promise((resolve, reject) => {
          const req = http.request({ socketPath, method, path, headers: { 'User-Agent': userAgent } }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          });
          req.on('error', reject);
          req.end();
        });
      expect(await viaSocket('GET', '/api/v1/nodes/n1', 'flannel-ts/0.1.0 (x)')).toBe(200);
      expect(await viaSocket('GET', '/api/v1/nodes?limit=500', 'flannel-ts/0.1.0 (x)')).toBe(200);
      expect(await viaSocket('DELETE', '/api/v1/nodes/n1', 'bench')).toBe(200);
      await fetch(`${s.url}/lab/request-counts`);
      expect(s.requestCounts()).toEqual({ 'flannel-ts': { get: 1, list: 1 }, bench: { delete: 1 } });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('in-cluster: the server from KUBERNETES_SERVICE_HOST/PORT, the CA and token of the service account, the token re-read once a minute old', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'apiserver-sa-'));
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
        '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'ca.crt')], { stdio: 'ignore' });
      writeFileSync(join(dir, 'token'), 'first\n');
      const s = await start({ tls: { cert: readFileSync(join(dir, 'ca.crt'), 'utf8'), key: readFileSync(join(dir, 'key.pem'), 'utf8') }, token: 'first' });
      s.createNode('n1', { podCIDR: '10.244.1.0/24' });
      const warnings: string[] = [];
      const api = await createKubeApi({
        env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(s.port) },
        serviceAccountDir: dir,
        onWarning: (m) => warnings.push(m),
      });
      expect(api.server).toBe(`https://127.0.0.1:${s.port}`);
      expect((await api.getNode('n1')).podCIDR).toBe('10.244.1.0/24');
      // The kubelet rotates the token: the old one keeps working here until it is a minute old.
      writeFileSync(join(dir, 'token'), 'second\n');
      s.setToken('second');
      expect(((await api.getNode('n1').catch((e: unknown) => e)) as Error).message).toMatch(/HTTP 401/);
      vi.useFakeTimers({ toFake: ['Date'] });
      try {
        vi.setSystemTime(Date.now() + 61_000);
        expect((await api.getNode('n1')).podCIDR).toBe('10.244.1.0/24');
      } finally {
        vi.useRealTimers();
      }
      expect(warnings).toEqual([]);
      await expect(createKubeApi({ env: {} })).rejects.toThrow('unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
