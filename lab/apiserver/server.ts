/**
 * An in-process Kubernetes API server double: the part of core/v1 that flanneld (and flannel-ts)
 * talk to, over real HTTP(S), so the real client library runs unmodified against it.
 *
 * Faithful where the daemon depends on it:
 * - `GET /api/v1/nodes` lists with the global resourceVersion, in pages with `limit` and `continue`
 *   as etcd3's store serves them (items in key order, every page from the snapshot of the first,
 *   `remainingItemCount`, a continue token of the same shape); a token whose resourceVersion was
 *   compacted gets 410 Expired. Compaction runs on a timer (`compactionIntervalMs`, 5 min as
 *   kube-apiserver's --etcd-compaction-interval), keeping one interval of history.
 * - `?watch=1|true` streams JSON lines (ADDED/MODIFIED/DELETED), replaying events after the given
 *   resourceVersion from a bounded history; an absent/"0" resourceVersion starts with synthetic
 *   ADDED events for every node; a too-old one gets HTTP 200 and an ERROR event holding a 410
 *   Expired Status, as the watch cache does. With allowWatchBookmarks=true, a BOOKMARK every
 *   `bookmarkIntervalMs` (a minute, as the watch cache's bookmark frequency) and one 2 s before
 *   the watch's timeoutSeconds runs out (the cache's pre-timeout bookmark).
 * - `GET/DELETE /api/v1/nodes/{name}`, `POST /api/v1/nodes`, `PATCH /api/v1/nodes/{name}` (status is
 *   kept) and `PATCH /api/v1/nodes/{name}/status` (spec is kept; metadata may change, which is how
 *   flanneld writes annotations), with strategic-merge, merge and JSON patch (see patch.ts).
 * - `GET/POST /api/v1/namespaces/{ns}/pods[/{name}]`.
 * - Status objects for 401/404/405/409/415/422 shaped like the real ones; every write bumps one
 *   global resourceVersion.
 *
 * Fidelity limits (deliberate): label/field selectors, resourceVersion on lists, resourceVersion
 * preconditions (no 409 Conflict), admission, validation of object contents, server-side apply,
 * protobuf/CBOR, and every other resource are not implemented. Watches never time out on their own
 * (the real server closes them after 30–60 min) unless timeoutSeconds is given.
 *
 * Test and lab controls: create/update/delete nodes, set podCIDRs, expire the watch history (force
 * 410), drop every watch connection, inject failures, stop and restart on the same port, and a log
 * of every request (method, path, content type, body). A standalone process exposes the watch and
 * drop controls at `POST /lab/expire-history`, `POST /lab/drop-watches`, `POST /lab/compact` (a forced
 * 410 for every watcher: history gone, revision moved on, watches cut), the log at `GET /lab/requests`
 * and requests counted by client and verb at `GET /lab/request-counts`; it can also listen on a
 * unix socket, which a process outside the server's network namespace can reach.
 */
import { rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { clone, isObject, jsonPatch, mergePatch, PatchError, strategicMerge, type Json, type JsonObject } from './patch.ts';
import { alreadyExists, continueExpired, expired, failureStatus, notFound, unauthorized, unsupportedPatchType } from './status.ts';
import { ObjectStore, type StoreSnapshot, type WatchEvent } from './store.ts';
import { errorText } from '../../src/util/errors.ts';

export interface FakeApiServerOptions {
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 0 (any free port); kept across stop()/start(). */
  readonly port?: number;
  /** Serve HTTPS with this PEM pair; the kubeconfig then trusts `cert` as its CA. */
  readonly tls?: { readonly cert: string; readonly key: string };
  /** Require `Authorization: Bearer <token>`. */
  readonly token?: string;
  /** Node events kept for watch replay; default 1000. */
  readonly historyLimit?: number;
  /** Default 60 s, as the real watch cache's bookmark frequency. */
  readonly bookmarkIntervalMs?: number;
  /** How often the store is compacted (continue tokens older than the previous compaction expire); default 5 min, 0 = never. */
  readonly compactionIntervalMs?: number;
  /** Also serve on this unix socket path (replaced if present). */
  readonly unixSocket?: string;
  /** Objects and resourceVersion to start with (loaded before the port opens; see ObjectStore.restore). */
  readonly restore?: StoreSnapshot;
}

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly contentType: string | undefined;
  readonly userAgent: string;
  readonly body: string;
  /** The response status; 200 for watches that were accepted. */
  status: number;
}

export interface RequestFilter {
  readonly method?: string;
  /** Exact path, or a pattern. */
  readonly path?: string | RegExp;
}

export interface NodeInit {
  readonly podCIDR?: string;
  readonly podCIDRs?: readonly string[];
  /** Omit for a node with no annotations at all (a nil map in Go). */
  readonly annotations?: Readonly<Record<string, string>>;
  readonly labels?: Readonly<Record<string, string>>;
  readonly conditions?: readonly JsonObject[];
}

interface Failure {
  readonly filter: RequestFilter;
  readonly code: number;
  remaining: number;
}

const JSON_TYPE = 'application/json';

export class FakeApiServer {
  readonly store: ObjectStore;
  readonly requests: RecordedRequest[] = [];
  private readonly opts: FakeApiServerOptions;
  private readonly host: string;
  private boundPort: number;
  private server: http.Server | undefined;
  private unixServer: http.Server | undefined;
  private compactionTimer: NodeJS.Timeout | undefined;
  /** Page snapshots of paged lists, by the resourceVersion of their first page: the nodes in name order. */
  private readonly listSnapshots = new Map<number, JsonObject[]>();
  /**
   * Called with every request before it is served (tests: compact between two pages of a list).
   * Runs after the request is recorded and before failures are injected.
   */
  beforeRequest: ((rec: RecordedRequest) => void) | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly watches = new Set<http.ServerResponse>();
  private readonly failures: Failure[] = [];
  private lastBookmarkRevision = 0;
  /** The bearer token every request must carry (a rotated service account token: setToken). */
  private token: string | undefined;

  private constructor(opts: FakeApiServerOptions) {
    this.opts = opts;
    this.host = opts.host ?? '127.0.0.1';
    this.boundPort = opts.port ?? 0;
    this.store = new ObjectStore(opts.historyLimit ?? 1000);
    this.token = opts.token;
    if (opts.restore !== undefined) this.store.restore(opts.restore);
  }

  static async start(opts: FakeApiServerOptions = {}): Promise<FakeApiServer> {
    const s = new FakeApiServer(opts);
    await s.start();
    return s;
  }

  get port(): number {
    return this.boundPort;
  }

  get url(): string {
    const host = this.host === '0.0.0.0' || this.host === '::' ? '127.0.0.1' : this.host;
    const h = host.includes(':') ? `[${host}]` : host;
    return `${this.opts.tls ? 'https' : 'http'}://${h}:${this.boundPort}`;
  }

  get running(): boolean {
    return this.server !== undefined;
  }

  /** Starts listening (again, on the same port after stop()); the stored objects survive. */
  async start(): Promise<void> {
    if (this.server) return;
    const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => this.handle(req, res);
    const server = this.opts.tls ? https.createServer({ cert: this.opts.tls.cert, key: this.opts.tls.key }, handler) : http.createServer(handler);
    server.on(this.opts.tls ? 'secureConnection' : 'connection', (sock: Socket) => {
      this.sockets.add(sock);
      sock.on('close', () => this.sockets.delete(sock));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.boundPort, this.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const addr = server.address();
    if (addr !== null && typeof addr === 'object') this.boundPort = addr.port;
    this.server = server;
    if (this.opts.unixSocket !== undefined) this.unixServer = await listenUnix(this.opts.unixSocket, handler, this.sockets);
    const every = this.opts.compactionIntervalMs ?? 5 * 60_000;
    if (every > 0) {
      // etcd compaction as kube-apiserver schedules it: each run removes what is older than the previous run's revision.
      let previous = this.store.revision;
      this.compactionTimer = setInterval(() => {
        this.compact(previous);
        previous = this.store.revision;
      }, every);
      this.compactionTimer.unref();
    }
  }

  /** Stops listening and cuts every connection, as a crashed API server would. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    clearInterval(this.compactionTimer);
    const closing = [server, ...(this.unixServer !== undefined ? [this.unixServer] : [])].map((srv) => new Promise<void>((resolve) => srv.close(() => resolve())));
    this.unixServer = undefined;
    this.dropWatches();
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await Promise.all(closing);
  }

  /** Watch streams currently open. */
  get openWatches(): number {
    return this.watches.size;
  }

  /** From now on requests must carry this bearer token (the old one gets 401), as after a token rotation. */
  setToken(token: string): void {
    this.token = token;
  }

  /** Ends every open watch cleanly, as when its timeoutSeconds runs out (the client reads to the end). */
  endWatches(): void {
    for (const res of this.watches) res.end();
  }

  /** The resourceVersion of the last BOOKMARK written to any watch; 0 before the first. */
  get lastBookmark(): number {
    return this.lastBookmarkRevision;
  }

  /** Cuts every open watch connection (the client sees the stream end abruptly). */
  dropWatches(): void {
    for (const res of this.watches) res.socket?.destroy();
    this.watches.clear();
  }

  /** Forgets the watch history: watches from any older resourceVersion get 410 Gone (continue tokens too). */
  expireHistory(): void {
    this.store.expireHistory();
    this.compact();
  }

  /**
   * Compacts the store up to `revision` (default: now): the continue tokens of lists begun before
   * it get 410 Expired, as after an etcd compaction. The watch history is the watch cache's and
   * is kept.
   */
  compact(revision = this.store.revision): void {
    this.store.compact(revision);
    for (const rv of this.listSnapshots.keys()) if (rv < this.store.compactedRevision) this.listSnapshots.delete(rv);
  }

  /** The next `times` requests matching `filter` fail with `code` (a Status body). */
  failNext(filter: RequestFilter, code: number, times = 1): void {
    this.failures.push({ filter, code, remaining: times });
  }

  /** Requests by client (the User-Agent's product, e.g. `flannel-ts`) and Kubernetes verb (list, watch, get, create, patch, delete …). */
  requestCounts(): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = {};
    for (const r of this.requests) {
      const verb = verbOf(r);
      if (verb === undefined) continue;
      const client = r.userAgent.split('/')[0] || 'unknown';
      const byVerb = (out[client] ??= {});
      byVerb[verb] = (byVerb[verb] ?? 0) + 1;
    }
    return out;
  }

  countRequests(filter: RequestFilter = {}): number {
    return this.requests.filter((r) => matches(filter, r.method, r.path)).length;
  }

  /** PATCH requests, oldest first. */
  patches(name?: string): RecordedRequest[] {
    return this.requests.filter((r) => r.method === 'PATCH' && (name === undefined || r.path.startsWith(`/api/v1/nodes/${name}`)));
  }

  // ---- object controls ----

  createNode(name: string, init: NodeInit = {}): JsonObject {
    const metadata: JsonObject = { name };
    if (init.labels) metadata['labels'] = { ...init.labels };
    if (init.annotations) metadata['annotations'] = { ...init.annotations };
    const spec: JsonObject = {};
    if (init.podCIDR !== undefined) spec['podCIDR'] = init.podCIDR;
    const cidrs = init.podCIDRs ?? (init.podCIDR !== undefined ? [init.podCIDR] : undefined);
    if (cidrs) spec['podCIDRs'] = [...cidrs];
    const status: JsonObject = { conditions: clone((init.conditions ?? []) as Json[]) };
    return this.store.putNode(name, { metadata, spec, status });
  }

  /** Applies `mutate` to a copy of the node and stores it as one write (one MODIFIED event). */
  updateNode(name: string, mutate: (node: JsonObject) => void): JsonObject {
    const current = this.store.nodes.get(name);
    if (!current) throw new Error(`node ${name} does not exist`);
    const copy = clone(current);
    mutate(copy);
    return this.store.putNode(name, copy);
  }

  setPodCIDR(name: string, cidr: string | undefined, cidrs?: readonly string[]): JsonObject {
    return this.updateNode(name, (n) => {
      const spec = isObject(n['spec']) ? n['spec'] : {};
      if (cidr === undefined) {
        delete spec['podCIDR'];
        delete spec['podCIDRs'];
      } else {
        spec['podCIDR'] = cidr;
        spec['podCIDRs'] = [...(cidrs ?? [cidr])];
      }
      n['spec'] = spec;
    });
  }

  setAnnotations(name: string, annotations: Readonly<Record<string, string | null>>): JsonObject {
    return this.updateNode(name, (n) => {
      const meta = n['metadata'] as JsonObject;
      const ann = isObject(meta['annotations']) ? meta['annotations'] : {};
      for (const [k, v] of Object.entries(annotations)) {
        if (v === null) delete ann[k];
        else ann[k] = v;
      }
      meta['annotations'] = ann;
    });
  }

  deleteNode(name: string): void {
    this.store.deleteNode(name);
  }

  node(name: string): JsonObject | undefined {
    const n = this.store.nodes.get(name);
    return n ? clone(n) : undefined;
  }

  createPod(namespace: string, name: string, nodeName?: string): JsonObject {
    const spec: JsonObject = { containers: [{ name: 'main', image: 'example' }] };
    if (nodeName !== undefined) spec['nodeName'] = nodeName;
    return this.store.putPod(namespace, name, { metadata: { name, namespace }, spec, status: {} });
  }

  /** A kubeconfig (JSON is valid YAML) pointing at this server. */
  kubeconfig(): string {
    const cluster: JsonObject = { server: this.url };
    if (this.opts.tls) cluster['certificate-authority-data'] = Buffer.from(this.opts.tls.cert).toString('base64');
    // client-node refuses http:// servers unless this is set (there is no TLS to skip).
    else cluster['insecure-skip-tls-verify'] = true;
    const user: JsonObject = this.token !== undefined ? { token: this.token } : {};
    return JSON.stringify(
      {
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'flannel-lab', cluster }],
        users: [{ name: 'flannel-lab', user }],
        contexts: [{ name: 'flannel-lab', context: { cluster: 'flannel-lab', user: 'flannel-lab' } }],
        'current-context': 'flannel-lab',
      },
      null,
      2,
    ) + '\n';
  }

  writeKubeconfig(file: string): void {
    writeFileSync(file, this.kubeconfig(), { mode: 0o600 });
  }

  // ---- HTTP ----

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const rec: RecordedRequest = {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        contentType: req.headers['content-type'],
        userAgent: req.headers['user-agent'] ?? '',
        body: Buffer.concat(chunks).toString('utf8'),
        status: 0,
      };
      this.requests.push(rec);
      const send = (code: number, body: JsonObject): void => {
        rec.status = code;
        const text = JSON.stringify(body);
        res.writeHead(code, { 'Content-Type': JSON_TYPE, 'Content-Length': Buffer.byteLength(text) });
        res.end(text);
      };
      if (this.token !== undefined && req.headers.authorization !== `Bearer ${this.token}`) {
        send(401, unauthorized());
        return;
      }
      this.beforeRequest?.(rec);
      const failure = this.failures.find((f) => f.remaining > 0 && matches(f.filter, rec.method, rec.path));
      if (failure) {
        failure.remaining--;
        send(failure.code, failureStatus(failure.code, 'InternalError', `injected failure ${failure.code}`));
        return;
      }
      try {
        this.route(rec, url, res, send);
      } catch (e) {
        if (e instanceof PatchError) send(e.code, failureStatus(e.code, e.reason, e.message));
        else send(500, failureStatus(500, 'InternalError', String(e)));
      }
    });
  }

  private route(rec: RecordedRequest, url: URL, res: http.ServerResponse, send: (code: number, body: JsonObject) => void): void {
    const { method, path } = rec;
    const parts = path.split('/').filter((p) => p !== '').map(decodeURIComponent);
    const notAllowed = (): void => send(405, failureStatus(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`));

    if (parts[0] === 'lab') return this.routeLab(parts[1], method, send);
    if (parts[0] !== 'api' || parts[1] !== 'v1') {
      return send(404, failureStatus(404, 'NotFound', 'the server could not find the requested resource', {}));
    }
    if (parts[2] === 'nodes' && parts.length === 3) {
      if (method === 'GET') {
        const watch = url.searchParams.get('watch');
        if (watch === '1' || watch === 'true') return this.watchNodes(rec, url, res);
        const page = this.nodeList(url.searchParams);
        return send(page.code, page.body);
      }
      if (method === 'POST') return this.createNodeFromBody(rec, send);
      return notAllowed();
    }
    if (parts[2] === 'nodes' && (parts.length === 4 || (parts.length === 5 && parts[4] === 'status'))) {
      const name = parts[3]!;
      const current = this.store.nodes.get(name);
      if (method === 'GET') return current ? send(200, clone(current)) : send(404, notFound('nodes', name));
      if (method === 'DELETE' && parts.length === 4) {
        const last = this.store.deleteNode(name);
        return last ? send(200, last) : send(404, notFound('nodes', name));
      }
      if (method === 'PATCH') {
        if (!current) return send(404, notFound('nodes', name));
        const patched = applyPatch(current, rec.contentType, rec.body);
        const meta = isObject(patched['metadata']) ? patched['metadata'] : {};
        meta['name'] = name;
        patched['metadata'] = meta;
        // The status subresource keeps spec; the main resource keeps status (the registry strategies).
        if (parts.length === 5) patched['spec'] = clone(current['spec'] ?? {});
        else patched['status'] = clone(current['status'] ?? {});
        return send(200, this.store.putNode(name, patched));
      }
      return notAllowed();
    }
    if (parts[2] === 'namespaces' && parts[4] === 'pods' && parts.length <= 6) {
      const ns = parts[3]!;
      if (parts.length === 6) {
        const pod = this.store.pods.get(`${ns}/${parts[5]}`);
        if (method !== 'GET') return notAllowed();
        return pod ? send(200, clone(pod)) : send(404, notFound('pods', parts[5]!));
      }
      if (method === 'POST') {
        const body = parseBody(rec.body);
        const meta = isObject(body['metadata']) ? body['metadata'] : {};
        const name = typeof meta['name'] === 'string' ? meta['name'] : '';
        if (this.store.pods.has(`${ns}/${name}`)) return send(409, alreadyExists('pods', name));
        meta['namespace'] = ns;
        body['metadata'] = meta;
        return send(201, this.store.putPod(ns, name, body));
      }
      return notAllowed();
    }
    return send(404, failureStatus(404, 'NotFound', 'the server could not find the requested resource', {}));
  }

  private routeLab(action: string | undefined, method: string, send: (code: number, body: JsonObject) => void): void {
    if (action === 'requests' && method === 'GET') {
      return send(200, { requests: this.requests.map((r) => ({ ...r })) as unknown as Json });
    }
    if (action === 'request-counts' && method === 'GET') return send(200, { counts: this.requestCounts() });
    if (method === 'POST' && action === 'expire-history') {
      this.expireHistory();
      return send(200, { resourceVersion: String(this.store.revision) });
    }
    if (method === 'POST' && action === 'compact') {
      // Cuts the watches too: each client re-watches from its last resourceVersion and gets 410.
      this.store.compactAll();
      send(200, { resourceVersion: String(this.store.revision), dropped: this.watches.size });
      this.dropWatches();
      return;
    }
    if (method === 'POST' && action === 'drop-watches') {
      send(200, { dropped: this.watches.size });
      this.dropWatches();
      return;
    }
    send(404, failureStatus(404, 'NotFound', 'the server could not find the requested resource', {}));
  }

  private createNodeFromBody(rec: RecordedRequest, send: (code: number, body: JsonObject) => void): void {
    const body = parseBody(rec.body);
    const meta = isObject(body['metadata']) ? body['metadata'] : {};
    const name = typeof meta['name'] === 'string' ? meta['name'] : '';
    if (name === '') return send(422, failureStatus(422, 'Invalid', 'Node "" is invalid: metadata.name: Required value: name or generateName is required'));
    if (this.store.nodes.has(name)) return send(409, alreadyExists('nodes', name));
    send(201, this.store.putNode(name, body));
  }

  /**
   * A node list, whole or one page of it (etcd3's store.GetList): items in key order (by name),
   * every page read from the snapshot of the first so the pages make one consistent list, and a
   * continue token naming that snapshot's resourceVersion and the next key. A token from before
   * the last compaction gets 410 Expired.
   */
  private nodeList(params: URLSearchParams): { code: number; body: JsonObject } {
    const limit = Number(params.get('limit') ?? '0');
    const token = params.get('continue') ?? '';
    const strip = (n: JsonObject): JsonObject => {
      const { kind: _k, apiVersion: _a, ...rest } = clone(n);
      return rest;
    };
    if (token === '' && !(limit > 0)) {
      return { code: 200, body: { kind: 'NodeList', apiVersion: 'v1', metadata: { resourceVersion: String(this.store.revision) }, items: [...this.store.nodes.values()].map(strip) } };
    }
    let rv = this.store.revision;
    let start = '';
    if (token !== '') {
      const decoded = decodeContinue(token);
      if (decoded === undefined) return { code: 400, body: failureStatus(400, 'BadRequest', 'continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)') };
      ({ rv, start } = decoded);
      if (rv < this.store.compactedRevision || !this.listSnapshots.has(rv)) return { code: 410, body: continueExpired() };
    }
    let snapshot = this.listSnapshots.get(rv);
    if (snapshot === undefined) {
      snapshot = [...this.store.nodes.values()].sort((a, b) => compareNames(nameOf(a), nameOf(b)));
      this.listSnapshots.set(rv, snapshot);
      // A handful of lists in flight at a time is plenty for a double; the oldest go first.
      for (const old of this.listSnapshots.keys()) if (this.listSnapshots.size > 16) this.listSnapshots.delete(old);
    }
    let from = 0;
    while (from < snapshot.length && compareNames(nameOf(snapshot[from]!), start) < 0) from++;
    const to = limit > 0 ? Math.min(snapshot.length, from + limit) : snapshot.length;
    const metadata: JsonObject = { resourceVersion: String(rv) };
    if (to < snapshot.length) {
      metadata['continue'] = encodeContinue(rv, `${nameOf(snapshot[to - 1]!)}\u0000`);
      metadata['remainingItemCount'] = snapshot.length - to;
    }
    return { code: 200, body: { kind: 'NodeList', apiVersion: 'v1', metadata, items: snapshot.slice(from, to).map(strip) } };
  }

  private watchNodes(rec: RecordedRequest, url: URL, res: http.ServerResponse): void {
    const rvText = url.searchParams.get('resourceVersion') ?? '';
    const bookmarks = url.searchParams.get('allowWatchBookmarks') === 'true';
    const timeoutSeconds = Number(url.searchParams.get('timeoutSeconds') ?? '0');
    rec.status = 200;
    res.writeHead(200, { 'Content-Type': JSON_TYPE, 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    const write = (type: string, object: JsonObject): void => {
      res.write(JSON.stringify({ type, object }) + '\n');
    };
    let backlog: WatchEvent[];
    if (rvText === '' || rvText === '0') {
      backlog = [...this.store.nodes.values()].map((n) => ({ type: 'ADDED', object: n, resourceVersion: this.store.revision }));
    } else {
      const rv = Number(rvText);
      const since = Number.isInteger(rv) ? this.store.eventsSince(rv) : undefined;
      if (since === undefined) {
        write('ERROR', expired(Number.isInteger(rv) ? rv : 0, this.store.historyStart + 1));
        res.end();
        return;
      }
      backlog = since;
    }
    for (const ev of backlog) write(ev.type, ev.object);
    const unsubscribe = this.store.subscribe((ev) => write(ev.type, ev.object));
    const timers: NodeJS.Timeout[] = [];
    const bookmark = (): void => {
      this.lastBookmarkRevision = this.store.revision;
      write('BOOKMARK', { kind: 'Node', apiVersion: 'v1', metadata: { resourceVersion: String(this.store.revision), creationTimestamp: null } });
    };
    if (bookmarks) timers.push(setInterval(bookmark, this.opts.bookmarkIntervalMs ?? 60_000));
    if (timeoutSeconds > 0) {
      timers.push(setTimeout(() => res.end(), timeoutSeconds * 1000));
      if (bookmarks && timeoutSeconds > 2) timers.push(setTimeout(bookmark, (timeoutSeconds - 2) * 1000));
    }
    this.watches.add(res);
    res.on('close', () => {
      unsubscribe();
      for (const t of timers) clearTimeout(t);
      this.watches.delete(res);
    });
  }
}

/** The Kubernetes verb of an API request (as in apiserver_request_total); undefined for the lab's own paths. */
function verbOf(r: RecordedRequest): string | undefined {
  const parts = r.path.split('/').filter((p) => p !== '');
  if (parts[0] !== 'api') return undefined;
  // /api/v1/nodes and /api/v1/namespaces/<ns>/pods are collections; one more segment names an object.
  const collection = parts[2] === 'namespaces' ? parts.length === 5 : parts.length === 3;
  switch (r.method) {
    case 'GET':
      if (!collection) return 'get';
      return r.query['watch'] === '1' || r.query['watch'] === 'true' ? 'watch' : 'list';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    default:
      return r.method.toLowerCase();
  }
}

/** etcd key order: byte order of the names. */
function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function nameOf(obj: JsonObject): string {
  const meta = obj['metadata'];
  return isObject(meta) && typeof meta['name'] === 'string' ? meta['name'] : '';
}

/** The apiserver's continue token: unpadded base64url of {"v":"meta.k8s.io/v1","rv":…,"start":…}. */
function encodeContinue(rv: number, start: string): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv, start })).toString('base64url');
}

function decodeContinue(token: string): { rv: number; start: string } | undefined {
  try {
    const v = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { v?: unknown; rv?: unknown; start?: unknown };
    if (v.v !== 'meta.k8s.io/v1' || typeof v.rv !== 'number' || !Number.isInteger(v.rv) || v.rv <= 0 || typeof v.start !== 'string') return undefined;
    return { rv: v.rv, start: v.start };
  } catch {
    return undefined;
  }
}

async function listenUnix(path: string, handler: http.RequestListener, sockets: Set<Socket>): Promise<http.Server> {
  rmSync(path, { force: true });
  const server = http.createServer(handler);
  server.on('connection', (sock: Socket) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

function matches(filter: RequestFilter, method: string, path: string): boolean {
  if (filter.method !== undefined && filter.method !== method) return false;
  if (filter.path === undefined) return true;
  return typeof filter.path === 'string' ? filter.path === path : filter.path.test(path);
}

function parseBody(text: string): JsonObject {
  let v: Json;
  try {
    v = JSON.parse(text) as Json;
  } catch (e) {
    throw new PatchError(400, 'BadRequest', `the request body is not JSON: ${errorText(e)}`);
  }
  if (!isObject(v)) throw new PatchError(400, 'BadRequest', 'the request body is not a JSON object');
  return v;
}

function applyPatch(current: JsonObject, contentType: string | undefined, body: string): JsonObject {
  const type = (contentType ?? '').split(';')[0]!.trim();
  if (type === 'application/strategic-merge-patch+json') return strategicMerge(current, parseBody(body));
  if (type === 'application/merge-patch+json') {
    const out = mergePatch(current, parseBody(body));
    if (!isObject(out)) throw new PatchError(422, 'Invalid', 'merge patch produced a non-object');
    return out;
  }
  if (type === 'application/json-patch+json') {
    let ops: Json;
    try {
      ops = JSON.parse(body) as Json;
    } catch (e) {
      throw new PatchError(400, 'BadRequest', `the request body is not JSON: ${errorText(e)}`);
    }
    return jsonPatch(current, ops);
  }
  throw new PatchError(415, 'UnsupportedMediaType', unsupportedPatchType(type)['message'] as string);
}
