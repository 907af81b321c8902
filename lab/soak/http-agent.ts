/**
 * A long-lived HTTP client inside the lab's underlay namespace, for the soak: the soak process
 * lives in the root namespace, and starting `netns-fetch.ts` per request (a Node start each)
 * is far too slow for 20 node writes a second plus metrics scrapes. From the underlay it
 * reaches the API server double (198.18.0.254:6443, over loopback, so a blackhole on br0 does
 * not cut it) and every node's /metrics and /readyz (over br0).
 *
 * Protocol: one JSON object per line on stdin, {id, method, url, body?, contentType?,
 * timeoutMs?}; one per line on stdout, {id, status, body} or {id, error}.
 */
import http from 'node:http';
import { createInterface } from 'node:readline';

interface AgentRequest {
  readonly id: number;
  readonly method: string;
  readonly url: string;
  readonly body?: string;
  readonly contentType?: string;
  readonly timeoutMs?: number;
}

// No keep-alive: after the API server double restarts, a pooled socket would fail the next request.
const agent = new http.Agent({ keepAlive: false, maxSockets: 32 });

function reply(msg: object): void {
  process.stdout.write(JSON.stringify(msg) + '\n');
}

function handle(r: AgentRequest): void {
  let done = false;
  const finish = (msg: object): void => {
    if (done) return;
    done = true;
    reply({ id: r.id, ...msg });
  };
  const headers: http.OutgoingHttpHeaders = { Accept: 'application/json' };
  if (r.body !== undefined) {
    headers['Content-Type'] = r.contentType ?? 'application/json';
    headers['Content-Length'] = Buffer.byteLength(r.body);
  }
  const req = http.request(r.url, { method: r.method, headers, agent, timeout: r.timeoutMs ?? 5000 }, (res) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => finish({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    res.on('error', (e) => finish({ error: e.message }));
  });
  req.on('timeout', () => req.destroy(new Error(`no answer within ${r.timeoutMs ?? 5000} ms`)));
  req.on('error', (e) => finish({ error: e.message }));
  req.end(r.body);
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on('line', (line) => {
  if (line.trim() === '') return;
  handle(JSON.parse(line) as AgentRequest);
});
lines.on('close', () => {
  agent.destroy();
  process.exit(0);
});
