/**
 * The soak's HTTP client: drives http-agent.ts inside the underlay namespace (see there why) and
 * matches its answers to requests by id.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { nodeBinary } from '../paths.ts';
import { API_SERVER_IP, API_SERVER_PORT } from '../topology.ts';

const AGENT_ENTRY = fileURLToPath(new URL('./http-agent.ts', import.meta.url));

export interface HttpResponse {
  readonly status: number;
  readonly body: string;
}

export const API_URL = `http://${API_SERVER_IP}:${API_SERVER_PORT}`;

export class UnderlayHttp {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly pending = new Map<number, { resolve: (r: HttpResponse) => void; reject: (e: Error) => void; what: string }>();
  private nextId = 1;
  private exited: string | undefined;

  constructor(underlayNetns: string) {
    this.child = spawn('ip', ['netns', 'exec', underlayNetns, nodeBinary(), AGENT_ENTRY], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    this.child.stderr.on('data', (b: Buffer) => (stderr = (stderr + b.toString('utf8')).slice(-2000)));
    createInterface({ input: this.child.stdout, crlfDelay: Infinity }).on('line', (line) => {
      const m = JSON.parse(line) as { id: number; status?: number; body?: string; error?: string };
      const p = this.pending.get(m.id);
      if (p === undefined) return;
      this.pending.delete(m.id);
      if (m.error !== undefined) p.reject(new Error(`${p.what}: ${m.error}`));
      else p.resolve({ status: m.status ?? 0, body: m.body ?? '' });
    });
    this.child.on('exit', (code, signal) => {
      this.exited = `the soak's HTTP agent exited (${code ?? signal}): ${stderr}`;
      for (const p of this.pending.values()) p.reject(new Error(this.exited));
      this.pending.clear();
    });
  }

  request(method: string, url: string, body?: unknown, opts: { contentType?: string; timeoutMs?: number } = {}): Promise<HttpResponse> {
    if (this.exited !== undefined) return Promise.reject(new Error(this.exited));
    const id = this.nextId++;
    const what = `${method} ${url}`;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, what });
      const msg = {
        id, method, url,
        ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
        ...(opts.contentType !== undefined ? { contentType: opts.contentType } : {}),
        ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
      };
      this.child.stdin.write(JSON.stringify(msg) + '\n');
    });
  }

  /** A request to the API server double; throws unless the status is `expect` (when given). */
  async api(method: string, path: string, body?: unknown, opts: { contentType?: string; expect?: number } = {}): Promise<HttpResponse> {
    const r = await this.request(method, API_URL + path, body, opts);
    if (opts.expect !== undefined && r.status !== opts.expect) throw new Error(`${method} ${path}: HTTP ${r.status} (expected ${opts.expect}): ${r.body.slice(0, 500)}`);
    return r;
  }

  close(): Promise<void> {
    if (this.exited !== undefined) return Promise.resolve();
    return new Promise((resolve) => {
      this.child.once('exit', () => resolve());
      this.child.stdin.end();
      setTimeout(() => this.child.kill('SIGKILL'), 2000).unref();
    });
  }
}
