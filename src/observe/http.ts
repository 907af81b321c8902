import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { http } from '../util/node-http.ts';
import type { AddressInfo } from 'node:net';
import type { Logger } from './log.ts';
import type { HealthState } from './health.ts';
import type { Metrics } from './metrics.ts';
import { errorText } from '../util/errors.ts';

/*
 * The two small HTTP listeners: health (--healthz-ip:--healthz-port, /healthz and /readyz as
 * upstream) and metrics (--metrics-ip:--metrics-port, /metrics). They are separate so that
 * a scrape never competes with a kubelet probe and each can be turned off on its own. The
 * daemon starts a listener only when its port flag is above 0; port 0 here means "any free
 * port", which tests use.
 */

/**
 * The metrics port when --metrics-port is not given. Not upstream's healthz port (8081 in its
 * manifest) and not a port of common exporters; the manifest and the docs use it too.
 */
export const DEFAULT_METRICS_PORT = 9862;

/** How long close() lets in-flight requests finish before cutting the connections. */
export const CLOSE_GRACE_MS = 3000;

export interface HttpListener {
  /** Where it listens; the port is the real one when 0 was asked for. */
  readonly address: { readonly host: string; readonly port: number };
  /** Stop accepting, let requests in flight finish for up to CLOSE_GRACE_MS, then cut. */
  close(): Promise<void>;
}

interface Reply {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

/** Answers one path; the map from path to Responder is the whole router. */
type Responder = (req: IncomingMessage) => Promise<Reply>;

const TEXT = 'text/plain; charset=utf-8';

export interface HealthExtras {
  /**
   * GET /debug/state: the daemon's own view as JSON, for `flanneld doctor` on the same node.
   * Answered only to clients on this node (403 otherwise): over loopback, or from the very
   * address the listener was reached on (--healthz-ip set to the node's IP). The listener binds
   * 0.0.0.0 by default so that kubelet probes reach it; the state is for the node itself.
   */
  readonly debugState?: () => unknown;
}

export function serveHealth(health: HealthState, listen: { host: string; port: number }, log?: Logger, extras: HealthExtras = {}): Promise<HttpListener> {
  const verdict = (v: { ok: boolean; body: string }): Reply => ({ status: v.ok ? 200 : 503, contentType: TEXT, body: v.body });
  const routes = new Map<string, Responder>([
    ['/healthz', async () => verdict(health.liveness())],
    ['/readyz', async () => verdict(health.readiness())],
  ]);
  const state = extras.debugState;
  if (state !== undefined) {
    routes.set('/debug/state', async (req) =>
      isLoopbackAddress(req.socket.remoteAddress) || req.socket.remoteAddress === req.socket.localAddress
        ? { status: 200, contentType: 'application/json', body: JSON.stringify(state()) + '\n' }
        : { status: 403, contentType: TEXT, body: '/debug/state answers only to clients on this node (run flanneld doctor there)\n' },
    );
  }
  return serve('health', routes, listen, log);
}

/** 127.0.0.0/8, ::1, and IPv4 loopback mapped into IPv6 (a dual-stack listener reports those). */
export function isLoopbackAddress(addr: string | undefined): boolean {
  if (addr === undefined) return false;
  const v4 = addr.startsWith('::ffff:') ? addr.slice(7) : addr;
  return v4.startsWith('127.') || addr === '::1';
}

export function serveMetrics(metrics: Metrics, listen: { host: string; port: number }, log?: Logger): Promise<HttpListener> {
  return serve(
    'metrics',
    new Map<string, Responder>([['/metrics', async () => ({ status: 200, contentType: metrics.contentType, body: await metrics.scrape() })]]),
    listen,
    log,
  );
}

async function serve(what: string, routes: ReadonlyMap<string, Responder>, listen: { host: string; port: number }, log?: Logger): Promise<HttpListener> {
  const server = http.createServer((req, res) => {
    void handle(routes, req, res).catch((err: unknown) => {
      log?.error({ err, path: req.url }, `${what} server: request failed`);
      if (!res.headersSent) reply(res, 500, TEXT, `internal error: ${errorText(err)}`);
      else res.destroy();
    });
  });
  // Probes and scrapes are short; a client that stalls must not hold a socket forever.
  server.requestTimeout = 10_000;
  server.headersTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => reject(new Error(`${what} server: cannot listen on ${joinHostPort(listen.host, listen.port)}: ${err.message}`));
    server.once('error', onError);
    server.listen(listen.port, listen.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err) => log?.error({ err }, `${what} server error`));
  const addr = server.address() as AddressInfo;
  log?.info({ address: joinHostPort(addr.address, addr.port) }, `${what} server listening`);
  return { address: { host: addr.address, port: addr.port }, close: () => closeGracefully(server) };
}

async function handle(routes: ReadonlyMap<string, Responder>, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  const respond = routes.get(path);
  if (respond === undefined) {
    reply(res, 404, TEXT, '404 page not found\n');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    reply(res, 405, TEXT, 'method not allowed\n');
    return;
  }
  const r = await respond(req);
  reply(res, r.status, r.contentType, req.method === 'HEAD' ? undefined : r.body, Buffer.byteLength(r.body));
}

function reply(res: ServerResponse, status: number, contentType: string, body: string | undefined, length?: number): void {
  res.writeHead(status, {
    'Content-Type': contentType,
    'Content-Length': length ?? Buffer.byteLength(body ?? ''),
    'Cache-Control': 'no-store',
  });
  res.end(body);
}

function closeGracefully(server: Server): Promise<void> {
  return new Promise((resolve) => {
    const cut = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
    cut.unref();
    server.close(() => {
      clearTimeout(cut);
      resolve();
    });
    // Keep-alive connections with no request in flight would otherwise hold close() open.
    server.closeIdleConnections();
  });
}

function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
