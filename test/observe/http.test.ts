import { afterEach, describe, expect, it } from 'vitest';
import { request, Agent } from 'node:http';
import { HealthState } from '../../src/observe/health.ts';
import { createMetrics } from '../../src/observe/metrics.ts';
import { serveHealth, serveMetrics, type HttpListener } from '../../src/observe/http.ts';

// Real HTTP on 127.0.0.1, ephemeral ports.
const open: HttpListener[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((l) => l.close()));
});

interface Answer {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

function get(port: number, path: string, method = 'GET', agent?: Agent): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function health(h: HealthState) {
  const l = await serveHealth(h, { host: '127.0.0.1', port: 0 });
  open.push(l);
  return l.address.port;
}

describe('health server', () => {
  it('answers /healthz and /readyz with upstream bodies when all is well', async () => {
    const h = new HealthState();
    h.setReady(null);
    const port = await health(h);
    expect(await get(port, '/healthz')).toMatchObject({ status: 200, body: 'flanneld is running' });
    const ready = await get(port, '/readyz');
    expect(ready).toMatchObject({ status: 200, body: 'flanneld is ready' });
    expect(ready.headers['content-type']).toBe('text/plain; charset=utf-8');
  });

  it('answers 503 with the reason when not ready or stuck', async () => {
    let t = 0;
    const h = new HealthState({ now: () => t });
    h.setReady('waiting for podCIDR on node "kind-worker"');
    h.watchdog('reconcile', 30_000);
    const port = await health(h);
    expect(await get(port, '/readyz')).toMatchObject({ status: 503, body: 'not ready: waiting for podCIDR on node "kind-worker"' });
    expect((await get(port, '/healthz')).status).toBe(200);
    t = 45_000;
    expect(await get(port, '/healthz')).toMatchObject({ status: 503, body: 'flanneld is stuck: reconcile made no progress for 45s (limit 30s)' });
    h.heartbeat('reconcile');
    expect((await get(port, '/healthz')).status).toBe(200);
  });

  it('answers HEAD without a body, 405 for other methods, 404 for other paths', async () => {
    const port = await health(new HealthState());
    const head = await get(port, '/readyz', 'HEAD');
    expect(head.status).toBe(503);
    expect(head.body).toBe('');
    expect(head.headers['content-length']).toBe(String('not ready: starting'.length));
    const post = await get(port, '/healthz', 'POST');
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
    expect((await get(port, '/metrics')).status).toBe(404);
    expect((await get(port, '/healthz?verbose=1')).status).toBe(200);
  });

  it('closes promptly even with a keep-alive connection open', async () => {
    const l = await serveHealth(new HealthState(), { host: '127.0.0.1', port: 0 });
    const agent = new Agent({ keepAlive: true });
    expect((await get(l.address.port, '/healthz', 'GET', agent)).status).toBe(200);
    await l.close();
    await expect(get(l.address.port, '/healthz')).rejects.toThrow(/ECONNREFUSED/);
    agent.destroy();
  });

  it('serves /debug/state as JSON to clients on loopback, read at each request; absent without a provider', async () => {
    let n = 0;
    const l = await serveHealth(new HealthState(), { host: '127.0.0.1', port: 0 }, undefined, { debugState: () => ({ schema: 1, calls: ++n }) });
    open.push(l);
    const r = await get(l.address.port, '/debug/state');
    expect(r).toMatchObject({ status: 200, body: '{"schema":1,"calls":1}\n' });
    expect(r.headers['content-type']).toBe('application/json');
    expect((await get(l.address.port, '/debug/state')).body).toBe('{"schema":1,"calls":2}\n');
    expect((await get(await health(new HealthState()), '/debug/state')).status).toBe(404);
  });

  it('names the address when it cannot listen', async () => {
    const port = await health(new HealthState());
    await expect(serveHealth(new HealthState(), { host: '127.0.0.1', port })).rejects.toThrow(
      `health server: cannot listen on 127.0.0.1:${port}: listen EADDRINUSE`,
    );
  });
});

describe('metrics server', () => {
  it('serves the registry at /metrics in the Prometheus text format, reading sources per scrape', async () => {
    const m = createMetrics({ version: '9.9.9' });
    const udp = { packetsIn: 1, packetsOut: 0, bytesIn: 84, bytesOut: 0, drops: {} };
    m.addSource('udp', () => udp);
    const l = await serveMetrics(m, { host: '127.0.0.1', port: 0 });
    open.push(l);
    let r = await get(l.address.port, '/metrics');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(r.body).toContain('flannel_build_info{version="9.9.9"');
    expect(r.body).toContain('flannel_udp_packets_total{direction="in"} 1\n');
    expect(r.body).toContain('process_resident_memory_bytes');
    udp.packetsIn = 5;
    r = await get(l.address.port, '/metrics');
    expect(r.body).toContain('flannel_udp_packets_total{direction="in"} 5\n');
    expect((await get(l.address.port, '/healthz')).status).toBe(404);
  });

  it('answers 500 naming the error when a source throws', async () => {
    const m = createMetrics({ version: 'x', defaultMetrics: false });
    m.addSource('traffic', () => {
      throw new Error('traffic stats unavailable');
    });
    const l = await serveMetrics(m, { host: '127.0.0.1', port: 0 });
    open.push(l);
    const r = await get(l.address.port, '/metrics');
    expect(r.status).toBe(500);
    expect(r.body).toContain('traffic stats unavailable');
  });
});
