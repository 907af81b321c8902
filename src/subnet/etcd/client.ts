/**
 * An etcd v3 client over etcd's JSON gateway (`/v3/kv/range`, `/v3/kv/txn`, `/v3/lease/grant`,
 * `/v3/watch`, …) on node:http(s): the handful of calls flannel makes, and nothing else.
 *
 * Why not a gRPC client library (etcd3 on @grpc/grpc-js): measured on Node 24, importing it costs
 * ~130 ms and one list plus one open watch ~24 MiB more resident memory than the same over
 * node:http, which the daemon already loads; see the README's dependency notes. The gateway is
 * served by every etcd ≥ 3.4 on the client port (unless started with --enable-grpc-gateway=false).
 *
 * Keys and values are strings here and base64 on the wire; int64 fields arrive as JSON strings:
 * revisions fit a double, lease IDs do not and stay strings.
 */
import http from 'node:http';
import https from 'node:https';
import type { EtcdTlsMaterial } from './tls.ts';
import { describeTlsError } from './tls.ts';

export interface EtcdClientOptions {
  /** URLs, tried in order; the one that answered last is tried first next time. */
  readonly endpoints: readonly string[];
  readonly tls?: EtcdTlsMaterial;
  /** Both set: authenticate (etcd's auth) and send the token with every call. */
  readonly username?: string;
  readonly password?: string;
  /** Per unary call; default 10 s. */
  readonly requestTimeoutMs?: number;
}

export interface KeyValue {
  readonly key: string;
  readonly value: string;
  readonly createRevision: number;
  readonly modRevision: number;
  /** The etcd lease the key is attached to; '0' for none (a key without TTL). */
  readonly lease: string;
}

export interface WatchEvent {
  readonly type: 'put' | 'delete';
  readonly kv: KeyValue;
}

export interface WatchResponse {
  /** The store revision this response is current as of. */
  readonly revision: number;
  readonly created: boolean;
  readonly canceled: boolean;
  /** Set when the requested start revision was compacted away: the watch is cancelled. */
  readonly compactRevision: number;
  readonly cancelReason: string;
  readonly events: readonly WatchEvent[];
}

/** etcd answered with an error (gRPC status `code`, message as etcd wrote it). */
export class EtcdError extends Error {
  override readonly name = 'EtcdError';
  readonly code: number;
  constructor(message: string, code: number) {
    super(message);
    this.code = code;
  }
}

/** No endpoint could be reached or none answered in time; the message has each endpoint's reason. */
export class EtcdUnavailableError extends Error {
  override readonly name = 'EtcdUnavailableError';
}

/** gRPC status codes the client acts on. */
const UNAVAILABLE = 14;
const UNAUTHENTICATED = 16;

interface Endpoint {
  readonly url: URL;
  readonly agent: http.Agent;
  /** etcd's simple auth tokens are valid only on the member that issued them. */
  token?: string;
}

export class EtcdClient {
  private readonly endpoints: Endpoint[];
  private readonly opts: EtcdClientOptions;
  private current = 0;

  constructor(opts: EtcdClientOptions) {
    if (opts.endpoints.length === 0) throw new Error('--etcd-endpoints is empty');
    this.opts = opts;
    this.endpoints = opts.endpoints.map((text) => {
      let url: URL;
      try {
        url = new URL(text);
      } catch {
        throw new Error(`--etcd-endpoints: ${JSON.stringify(text)} is not a URL (expected e.g. http://127.0.0.1:2379)`);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        throw new Error(`--etcd-endpoints: ${JSON.stringify(text)} has scheme ${url.protocol} (expected http:// or https://)`);
      }
      const tls = opts.tls;
      const agent =
        url.protocol === 'https:'
          ? new https.Agent({ keepAlive: true, minVersion: 'TLSv1.2', ...(tls?.ca ? { ca: tls.ca } : {}), ...(tls?.cert ? { cert: tls.cert, key: tls.key } : {}) })
          : new http.Agent({ keepAlive: true });
      return { url, agent };
    });
  }

  /** The endpoint calls go to first (the one that answered last). */
  get endpoint(): string {
    return this.endpoints[this.current]!.url.origin;
  }

  get endpointList(): string {
    return this.endpoints.map((e) => e.url.origin).join(',');
  }

  /** One key, or every key under `prefix` with `{ prefix: true }`. */
  async range(key: string, opts: { prefix?: boolean; countOnly?: boolean; signal?: AbortSignal } = {}): Promise<{ revision: number; kvs: KeyValue[]; count: number }> {
    const body: Record<string, unknown> = { key: b64(key) };
    if (opts.prefix) body['range_end'] = b64(prefixEnd(key));
    if (opts.countOnly) body['count_only'] = true;
    const r = await this.call('/v3/kv/range', body, opts.signal);
    return { revision: headerRevision(r), kvs: ((r['kvs'] as RawKv[] | undefined) ?? []).map(toKeyValue), count: Number(r['count'] ?? 0) };
  }

  /** Creates `key` only if it does not exist (version 0), in one transaction; `succeeded` false when it existed. */
  async createIfAbsent(key: string, value: string, lease: string, signal?: AbortSignal): Promise<{ succeeded: boolean; revision: number }> {
    const put: Record<string, unknown> = { key: b64(key), value: b64(value) };
    if (lease !== '0') put['lease'] = lease;
    const r = await this.call(
      '/v3/kv/txn',
      { compare: [{ key: b64(key), target: 'VERSION', result: 'EQUAL', version: '0' }], success: [{ request_put: put }] },
      signal,
    );
    return { succeeded: r['succeeded'] === true, revision: headerRevision(r) };
  }

  /** Writes `key`; `lease` '0' writes it without TTL. */
  async put(key: string, value: string, lease: string, signal?: AbortSignal): Promise<number> {
    const body: Record<string, unknown> = { key: b64(key), value: b64(value) };
    if (lease !== '0') body['lease'] = lease;
    return headerRevision(await this.call('/v3/kv/put', body, signal));
  }

  async delete(key: string, signal?: AbortSignal): Promise<number> {
    const r = await this.call('/v3/kv/deleterange', { key: b64(key) }, signal);
    return Number(r['deleted'] ?? 0);
  }

  /** Grants an etcd lease of `ttlSeconds`; resolves with its ID and the TTL etcd granted. */
  async leaseGrant(ttlSeconds: number, signal?: AbortSignal): Promise<{ id: string; ttl: number }> {
    const r = await this.call('/v3/lease/grant', { TTL: String(ttlSeconds) }, signal);
    return { id: String(r['ID']), ttl: Number(r['TTL']) };
  }

  async leaseRevoke(id: string, signal?: AbortSignal): Promise<void> {
    await this.call('/v3/lease/revoke', { ID: id }, signal);
  }

  /** Seconds left on an etcd lease; -1 when it does not exist (expired, revoked, or '0'). */
  async leaseTimeToLive(id: string, signal?: AbortSignal): Promise<number> {
    const r = await this.call('/v3/lease/timetolive', { ID: id }, signal);
    return Number(r['TTL'] ?? -1);
  }

  /**
   * Watches `key` (every key under it with `prefix`) from `startRevision`, calling `onResponse` for
   * each response, until the stream ends (resolves), fails (rejects) or `signal` aborts (resolves).
   * A compacted start revision arrives as a response with `canceled` and `compactRevision` set.
   */
  async watch(key: string, opts: { prefix?: boolean; startRevision: number }, onResponse: (r: WatchResponse) => void, signal: AbortSignal): Promise<void> {
    const create: Record<string, unknown> = { key: b64(key), start_revision: String(opts.startRevision), progress_notify: true };
    if (opts.prefix) create['range_end'] = b64(prefixEnd(key));
    // hasleader: etcd ends the watch when its member loses the leader, as upstream's WithRequireLeader.
    const res = await this.send('/v3/watch', { create_request: create }, signal, { stream: true, headers: { 'Grpc-Metadata-hasleader': 'true' } });
    await new Promise<void>((resolve, reject) => {
      let buf = '';
      const fail = (e: Error): void => {
        res.destroy();
        reject(e);
      };
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line === '') continue;
          let msg: { result?: RawWatchResponse; error?: RawError };
          try {
            msg = JSON.parse(line) as typeof msg;
          } catch {
            fail(new Error(`etcd ${this.endpoint}: watch stream sent a line that is not JSON: ${line.slice(0, 200)}`));
            return;
          }
          if (msg.error !== undefined) {
            const err = gatewayError(msg.error, this.endpoint);
            // An expired token: authenticate again before the next watch.
            if (err.code === UNAUTHENTICATED) delete this.endpoints[this.current]!.token;
            fail(err);
            return;
          }
          if (msg.result !== undefined) {
            const r = toWatchResponse(msg.result);
            // etcd refuses a watch with a stale token by cancelling it (HTTP 200): authenticate again next time.
            if (r.canceled && /Unauthenticated|invalid auth token/.test(r.cancelReason)) delete this.endpoints[this.current]!.token;
            onResponse(r);
          }
        }
      });
      res.on('end', () => resolve());
      res.on('error', (e) => (signal.aborted ? resolve() : reject(e)));
      res.on('close', () => resolve());
      signal.addEventListener('abort', () => res.destroy(), { once: true });
    });
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    for (const e of this.endpoints) e.agent.destroy();
  }

  /** A unary call: POST JSON, parse the JSON answer. */
  private async call(path: string, body: unknown, signal: AbortSignal | undefined): Promise<Record<string, unknown>> {
    const res = await this.send(path, body, signal, { stream: false });
    const text = await readBody(res);
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new Error(`etcd ${this.endpoint}${path}: answer is not JSON: ${text.slice(0, 200)}`);
    }
    return parsed;
  }

  /**
   * Sends one request, trying each endpoint in turn (starting with the one that answered last)
   * while they are unreachable; authenticates first when credentials are set, and once more
   * when etcd says the token is no longer valid. Resolves with a 200 response.
   */
  private async send(path: string, body: unknown, signal: AbortSignal | undefined, how: { stream: boolean; headers?: Record<string, string> }): Promise<http.IncomingMessage> {
    const failures: string[] = [];
    for (let n = 0; n < this.endpoints.length; n++) {
      const i = (this.current + n) % this.endpoints.length;
      const ep = this.endpoints[i]!;
      try {
        let res: http.IncomingMessage;
        for (let auth = 0; ; auth++) {
          if (this.opts.username && ep.token === undefined) ep.token = await this.authenticate(ep, signal);
          res = await this.request(ep, path, body, signal, how);
          if (res.statusCode === 200) break;
          const err = gatewayError(parseError(await readBody(res)), ep.url.origin, res.statusCode);
          if (err.code === UNAUTHENTICATED && this.opts.username && auth === 0) {
            delete ep.token;
            continue;
          }
          if (err.code === UNAVAILABLE) throw new EndpointDown(err.message);
          throw err;
        }
        this.current = i;
        return res;
      } catch (e) {
        if (signal?.aborted) throw signal.reason;
        if (!(e instanceof EndpointDown)) throw e;
        failures.push(e.message);
      }
    }
    throw new EtcdUnavailableError(`no etcd endpoint answered: ${failures.join('; ')}`);
  }

  private async authenticate(ep: Endpoint, signal: AbortSignal | undefined): Promise<string> {
    const res = await this.request(ep, '/v3/auth/authenticate', { name: this.opts.username, password: this.opts.password ?? '' }, signal, { stream: false });
    const text = await readBody(res);
    if (res.statusCode !== 200) {
      const err = gatewayError(parseError(text), ep.url.origin, res.statusCode);
      if (err.code === UNAVAILABLE) throw new EndpointDown(err.message);
      throw new EtcdError(`authenticating as --etcd-username ${JSON.stringify(this.opts.username)}: ${err.message}`, err.code);
    }
    const token = (JSON.parse(text) as { token?: string }).token;
    if (token === undefined || token === '') throw new EtcdError(`etcd ${ep.url.origin}: authentication gave no token (is auth enabled?)`, UNAUTHENTICATED);
    return token;
  }

  private request(ep: Endpoint, path: string, body: unknown, signal: AbortSignal | undefined, how: { stream: boolean; headers?: Record<string, string> }): Promise<http.IncomingMessage> {
    const payload = JSON.stringify(body);
    const timeoutMs = this.opts.requestTimeoutMs ?? 10_000;
    // A stream's timeout covers only the wait for its response headers.
    const timeout = AbortSignal.timeout(timeoutMs);
    const both = signal ? AbortSignal.any([signal, timeout]) : timeout;
    const headers: http.OutgoingHttpHeaders = { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload), ...how.headers };
    if (ep.token !== undefined && path !== '/v3/auth/authenticate') headers['Authorization'] = ep.token;
    const send = ep.url.protocol === 'https:' ? https.request : http.request;
    const url = new URL(path, ep.url);
    return new Promise((resolve, reject) => {
      let req: http.ClientRequest;
      const onAbort = (): void => {
        req.destroy(timeout.aborted && !signal?.aborted ? new Timeout(`no answer within ${timeoutMs / 1000} s`) : (signal?.reason as Error));
      };
      req = send(url, { method: 'POST', agent: ep.agent, headers }, (res) => {
        if (how.stream) both.removeEventListener('abort', onAbort);
        resolve(res);
      });
      both.addEventListener('abort', onAbort, { once: true });
      req.on('close', () => {
        if (!how.stream) both.removeEventListener('abort', onAbort);
      });
      if (how.stream) {
        // Notice a peer that vanished without closing the connection (the watch is otherwise silent).
        req.on('socket', (s) => s.setKeepAlive(true, 10_000));
      }
      req.on('error', (e: Error) => {
        if (signal?.aborted) {
          reject(signal.reason);
          return;
        }
        const tls = describeTlsError(e, ep.url.origin, this.opts.tls);
        const code = (e as NodeJS.ErrnoException).code;
        reject(new EndpointDown(tls ?? `${ep.url.origin}: ${e.message}${code && !e.message.includes(code) ? ` (${code})` : ''}`));
      });
      req.end(payload);
    });
  }
}

/** This endpoint cannot be used right now; try the next one. */
class EndpointDown extends Error {}
class Timeout extends Error {}

interface RawKv {
  key?: string;
  value?: string;
  create_revision?: string;
  mod_revision?: string;
  lease?: string;
}

interface RawWatchResponse {
  header?: { revision?: string };
  created?: boolean;
  canceled?: boolean;
  compact_revision?: string;
  cancel_reason?: string;
  events?: { type?: string; kv?: RawKv }[];
}

interface RawError {
  error?: string;
  message?: string;
  code?: number;
}

function toKeyValue(kv: RawKv): KeyValue {
  return {
    key: unb64(kv.key),
    value: unb64(kv.value),
    createRevision: Number(kv.create_revision ?? 0),
    modRevision: Number(kv.mod_revision ?? 0),
    lease: kv.lease ?? '0',
  };
}

function toWatchResponse(r: RawWatchResponse): WatchResponse {
  return {
    revision: Number(r.header?.revision ?? 0),
    created: r.created === true,
    canceled: r.canceled === true,
    compactRevision: Number(r.compact_revision ?? 0),
    cancelReason: r.cancel_reason ?? '',
    // The gateway omits zero values: an event without type is a PUT.
    events: (r.events ?? []).map((e) => ({ type: e.type === 'DELETE' ? 'delete' : 'put', kv: toKeyValue(e.kv ?? {}) })),
  };
}

function headerRevision(r: Record<string, unknown>): number {
  return Number((r['header'] as { revision?: string } | undefined)?.revision ?? 0);
}

function parseError(text: string): RawError {
  try {
    return JSON.parse(text) as RawError;
  } catch {
    return { message: text.slice(0, 200) };
  }
}

function gatewayError(e: RawError, endpoint: string, status?: number): EtcdError {
  const text = e.message ?? e.error ?? `HTTP ${status}`;
  if (status === 404) return new EtcdError(`etcd ${endpoint} has no /v3 JSON gateway (HTTP 404): flannel-ts needs etcd 3.4 or later with the gRPC gateway enabled`, 12);
  return new EtcdError(`etcd ${endpoint}: ${text}`, e.code ?? 2);
}

function readBody(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
  });
}

function b64(s: string | Buffer): string {
  return (typeof s === 'string' ? Buffer.from(s, 'utf8') : s).toString('base64');
}

function unb64(s: string | undefined): string {
  return s === undefined ? '' : Buffer.from(s, 'base64').toString('utf8');
}

/** The end of the range of keys starting with `prefix` (etcd's GetPrefixRangeEnd). */
export function prefixEnd(prefix: string): Buffer {
  const b = Buffer.from(prefix, 'utf8');
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) {
      const end = Buffer.from(b.subarray(0, i + 1));
      end[i]!++;
      return end;
    }
  }
  // All 0xff (or empty): every key from `prefix` on.
  return Buffer.from([0]);
}
