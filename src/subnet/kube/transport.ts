/**
 * HTTP to the API server on node:http/https. A RequestAuth sets each request's TLS options,
 * credentials and agent: the in-cluster service account (in-cluster.ts), or client-node's
 * KubeConfig for a kubeconfig file (kubeconfig.ts: `applyToHTTPSOptions` sets the CA, client
 * certificate and key, TLS server name and skip-verify, the Authorization header from a static
 * token, token file, exec or auth-provider plugin, and the agent, cached per cluster and user
 * so connections are reused, or a proxy agent when the kubeconfig names a proxy).
 *
 * Why not client-node's own fetch (undici): its HTTP parser is WebAssembly, compiled and given its
 * own memory on first use, and undici is 1.3 MB of bundle; node:http's parser is native and
 * already in the process (bench/daemon-footprint.ts).
 */
import type * as httpTypes from 'node:http';
import { http } from '../../util/node-http.ts';
import https from 'node:https';
import type { Socket } from 'node:net';

/** Sets one request's CA, client certificate, credentials and agent. */
export interface RequestAuth {
  apply(opts: https.RequestOptions): Promise<void>;
}

export interface RequestSpec {
  readonly method: 'GET' | 'PATCH';
  /** Path and query, e.g. `/api/v1/nodes?watch=true`. */
  readonly path: string;
  readonly body?: string;
  readonly contentType?: string;
  readonly userAgent: string;
  readonly signal?: AbortSignal;
  /** Told of every chunk of bytes from the server and of requests that got no response. */
  readonly contact?: ContactObserver;
}

/** What transport tells about contact with the API server (api-contact.ts keeps the state). */
export interface ContactObserver {
  received(): void;
  requestFailed(error: string): void;
}

/** A request failed before a response arrived (connection, TLS, auth plugin). */
export class TransportError extends Error {
  override readonly name = 'TransportError';
}

/** Sends one request; resolves with the response once its headers are in (the body is a stream). */
export async function sendRequest(auth: RequestAuth, server: string, spec: RequestSpec): Promise<httpTypes.IncomingMessage> {
  const opts: https.RequestOptions = {};
  await auth.apply(opts);
  const url = new URL(server.replace(/\/+$/, '') + spec.path);
  const headers: httpTypes.OutgoingHttpHeaders = {
    ...(opts.headers as httpTypes.OutgoingHttpHeaders | undefined),
    Accept: 'application/json',
    'User-Agent': spec.userAgent,
  };
  if (spec.body !== undefined) {
    headers['Content-Type'] = spec.contentType ?? 'application/json';
    headers['Content-Length'] = Buffer.byteLength(spec.body);
  }
  const request = url.protocol === 'http:' ? http.request : https.request;
  const contact = spec.contact;
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = request(url, { ...opts, method: spec.method, headers, ...(spec.signal !== undefined ? { signal: spec.signal } : {}) }, (res) => {
      answered = true;
      contact?.received();
      resolve(res);
    });
    if (contact !== undefined) req.on('socket', (socket) => observeSocket(socket, contact));
    req.on('error', (e: Error) => {
      const err = describe(e);
      // Our own abort (a watch stopped or timed out) says nothing about the server.
      if (!answered && err.name !== 'AbortError') contact?.requestFailed(err.message);
      reject(err);
    });
    req.end(spec.body);
  });
}

const observedSockets = new WeakSet<Socket>();

/**
 * Every chunk the server sends on this connection counts as contact: watch events and bookmarks,
 * list pages still streaming in. A second 'data' listener on the socket is free (node:http reads
 * the socket through 'data' too); a kept-alive socket serving several requests is observed once.
 */
function observeSocket(socket: Socket, contact: ContactObserver): void {
  if (observedSockets.has(socket)) return;
  observedSockets.add(socket);
  socket.on('data', () => contact.received());
}

/** Reads a whole response body as text. */
export async function readText(res: httpTypes.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function describe(e: Error): Error {
  const code = (e as NodeJS.ErrnoException).code;
  if (e.name === 'AbortError') return e;
  return new TransportError(code !== undefined && !e.message.includes(code) ? `${e.message} (${code})` : e.message);
}
