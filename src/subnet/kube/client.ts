/**
 * The Kubernetes API calls the daemon makes — list, watch and get nodes, patch node status, get
 * pod — on node:http/https (transport.ts). The generated CoreV1Api of client-node is not used:
 * the package index loads every model and API of Kubernetes (about 0.5 s and 90 MB of RSS) and
 * deserializes a node list into class instances. The node list is read as a stream
 * (list-stream.ts), so a page of it never exists whole. Everything else sees the narrow KubeApi
 * below and plain NodeView records.
 *
 * Configuration as client-go's BuildConfigFromFlags(apiUrl, kubeconfig): a kubeconfig file when
 * given (client-node's KubeConfig, kubeconfig.ts, loaded only then), only the URL when that is all
 * there is, and the in-cluster service account when both are empty (in-cluster.ts).
 */
import type { IncomingMessage } from 'node:http';
import { createInterface } from 'node:readline';
import { VERSION } from '../../version.ts';
import type { KubeApi, ListOptions, NodeList, NodeView, NodeWatchEvent, WatchEnd, WatchHandle, WatchOptions } from './api.ts';
import { KubeApiError } from './api.ts';
import { inClusterConfig, urlOnlyConfig, type ApiConfig } from './in-cluster.ts';
import { ListStreamParser } from './list-stream.ts';
import { readText, sendRequest, type ContactObserver, type RequestAuth, type RequestSpec } from './transport.ts';

export interface KubeClientOptions {
  /** --kubeconfig-file; '' or undefined for none. */
  readonly kubeconfigFile?: string;
  /** --kube-api-url; overrides the kubeconfig's server. */
  readonly apiUrl?: string;
  /** Told of every byte from the server and of requests without an answer (api-contact.ts). */
  readonly contact?: ContactObserver;
  /** For the in-cluster config (KUBERNETES_SERVICE_HOST/PORT); default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** Problems that do not stop the client (an unreadable CA file: the system's roots are used). */
  readonly onWarning?: (msg: string) => void;
  /** Where the service account's token and ca.crt are (tests); default the path every pod has. */
  readonly serviceAccountDir?: string;
  /**
   * Which annotations a NodeView keeps (default: all). The daemon keeps flannel's: a kubelet's
   * node carries several others that would otherwise be held for every node of the cluster.
   */
  readonly keepAnnotation?: (key: string) => boolean;
}

export async function loadApiConfig(opts: KubeClientOptions): Promise<ApiConfig> {
  const file = opts.kubeconfigFile ?? '';
  const url = opts.apiUrl ?? '';
  if (file !== '') return (await import('./kubeconfig.ts')).kubeconfigConfig(file, url);
  if (url !== '') return urlOnlyConfig(url);
  return inClusterConfig(opts.env ?? process.env, opts.onWarning ?? (() => undefined), opts.serviceAccountDir);
}

export async function createKubeApi(opts: KubeClientOptions): Promise<KubeApi> {
  return new HttpKubeApi(await loadApiConfig(opts), opts.keepAnnotation ?? (() => true), opts.contact);
}

// flannel's patches are strategic merges (a merge patch would replace the kubelet's conditions list).
const STRATEGIC_MERGE = 'application/strategic-merge-patch+json';
const USER_AGENT = `flannel-ts/${VERSION} (kubernetes-client-javascript)`;
/**
 * A watch silent this long is taken for a dead connection and ended as an error. A real API
 * server sends a bookmark about once a minute to a watch that allows them (the watch cache's
 * bookmark frequency), so a healthy quiet watch is never silent for 2.5 minutes. (client-node's
 * Watch gives up after 30 s, which on a quiet cluster re-opened every watch twice a minute.)
 */
export const WATCH_IDLE_MS = 150_000;

class HttpKubeApi implements KubeApi {
  readonly server: string;
  private readonly auth: RequestAuth;
  private readonly toNodeView: (obj: unknown) => NodeView;
  private readonly toWatchEvent: (phase: string, obj: unknown) => NodeWatchEvent;
  private readonly contact: ContactObserver | undefined;

  constructor(config: ApiConfig, keepAnnotation: (key: string) => boolean, contact?: ContactObserver) {
    this.auth = config.auth;
    this.contact = contact;
    this.server = config.server;
    this.toNodeView = (obj) => toNodeView(obj, keepAnnotation);
    this.toWatchEvent = (phase, obj) => toWatchEvent(phase, obj, this.toNodeView);
  }

  async getNode(name: string): Promise<NodeView> {
    return this.toNodeView(await this.json(`get node "${name}"`, { method: 'GET', path: `/api/v1/nodes/${encodeURIComponent(name)}` }));
  }

  async listNodes(opts: ListOptions = {}): Promise<NodeList> {
    const what = opts.continue ? 'list nodes (next page)' : 'list nodes';
    const query = new URLSearchParams();
    if (opts.limit !== undefined && opts.limit > 0) query.set('limit', String(opts.limit));
    if (opts.continue) query.set('continue', opts.continue);
    const q = query.toString();
    const res = await this.send(what, { method: 'GET', path: `/api/v1/nodes${q === '' ? '' : `?${q}`}` });
    const nodes: NodeView[] = [];
    const parser = new ListStreamParser((item) => nodes.push(this.toNodeView(item)));
    let list: { metadata?: { resourceVersion?: unknown; continue?: unknown } };
    try {
      for await (const chunk of res) parser.push(chunk as Buffer);
      list = parser.end();
    } catch (e) {
      throw new KubeApiError(`${what}: reading the response: ${asError(e).message}`, 0);
    }
    const rv = list.metadata?.resourceVersion;
    const next = list.metadata?.continue;
    return { resourceVersion: typeof rv === 'string' ? rv : '', nodes, continue: typeof next === 'string' ? next : '' };
  }

  async patchNodeStatus(name: string, body: object): Promise<NodeView> {
    const path = `/api/v1/nodes/${encodeURIComponent(name)}/status`;
    return this.toNodeView(await this.json(`patch node "${name}" status`, { method: 'PATCH', path, body: JSON.stringify(body), contentType: STRATEGIC_MERGE }));
  }

  async getPodNodeName(namespace: string, name: string): Promise<string> {
    const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`;
    const pod = (await this.json(`get pod "${namespace}/${name}"`, { method: 'GET', path })) as { spec?: { nodeName?: unknown } } | null;
    const nodeName = pod?.spec?.nodeName;
    return typeof nodeName === 'string' ? nodeName : '';
  }

  async watchNodes(resourceVersion: string, opts: WatchOptions, onEvent: (ev: NodeWatchEvent) => void, onDone: (end: WatchEnd) => void): Promise<WatchHandle> {
    const controller = new AbortController();
    let ended = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (end: WatchEnd): void => {
      if (ended) return;
      ended = true;
      clearTimeout(timer);
      controller.abort();
      onDone(end);
    };
    const fail = (e: unknown): void => finish(controller.signal.aborted ? { kind: 'stopped' } : { kind: 'error', error: asError(e) });
    const resetTimer = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => finish({ kind: 'error', error: new Error(`the watch was silent for ${WATCH_IDLE_MS / 1000} s (no event or bookmark); reconnecting`) }), WATCH_IDLE_MS);
      timer.unref();
    };
    const handle: WatchHandle = { stop: () => finish({ kind: 'stopped' }) };
    const query = new URLSearchParams({ watch: 'true', resourceVersion, allowWatchBookmarks: 'true' });
    if (opts.timeoutSeconds !== undefined) query.set('timeoutSeconds', String(opts.timeoutSeconds));
    resetTimer();
    let res: IncomingMessage;
    try {
      res = await this.send('watch nodes', { method: 'GET', path: `/api/v1/nodes?${query}`, signal: controller.signal });
    } catch (e) {
      fail(e);
      return handle;
    }
    if (ended) {
      res.destroy();
      return handle;
    }
    resetTimer();
    res.on('error', fail);
    // A response that was read to its end is the server's orderly close (timeoutSeconds); one cut
    // short is a broken connection.
    res.on('close', () => (res.complete ? finish({ kind: 'closed' }) : fail(new Error('the watch connection closed in the middle of the stream'))));
    const lines = createInterface({ input: res, crlfDelay: Infinity });
    // readline re-emits the stream's errors (a cut connection, our own abort); res.on('error') has them.
    lines.on('error', () => undefined);
    lines.on('line', (line: string) => {
      if (ended) return;
      resetTimer();
      let data: { type?: unknown; object?: unknown };
      try {
        data = JSON.parse(line) as { type?: unknown; object?: unknown };
      } catch {
        return; // not an event; client-node skips these too
      }
      onEvent(this.toWatchEvent(typeof data.type === 'string' ? data.type : '', data.object));
    });
    return handle;
  }

  /** A request whose response is one JSON object. */
  private async json(what: string, spec: Omit<RequestSpec, 'userAgent'>): Promise<unknown> {
    const res = await this.send(what, spec);
    try {
      return JSON.parse(await readText(res)) as unknown;
    } catch (e) {
      throw new KubeApiError(`${what}: reading the response: ${asError(e).message}`, 0);
    }
  }

  /** Sends one authenticated request; a non-2xx status becomes a KubeApiError with the Status message. */
  private async send(what: string, spec: Omit<RequestSpec, 'userAgent'>): Promise<IncomingMessage> {
    let res: IncomingMessage;
    try {
      res = await sendRequest(this.auth, this.server, { ...spec, userAgent: USER_AGENT, ...(this.contact !== undefined ? { contact: this.contact } : {}) });
    } catch (e) {
      if (spec.signal?.aborted) throw e;
      throw new KubeApiError(`${what}: ${asError(e).message}`, 0);
    }
    const code = res.statusCode ?? 0;
    if (code >= 200 && code < 300) return res;
    let text = '';
    try {
      text = await readText(res);
    } catch {
      // no body to quote
    }
    let message = text;
    try {
      const parsed = JSON.parse(text) as { message?: unknown } | null;
      if (typeof parsed?.message === 'string') message = parsed.message;
    } catch {
      // the body was not JSON; keep it as text
    }
    throw new KubeApiError(`${what}: HTTP ${code}${message ? `: ${message}` : ''}`, code);
  }
}

function asError(e: unknown): Error {
  if (e instanceof Error) {
    // Some errors keep the useful part in their cause (Node's AbortError carries the abort's
    // reason there); show both.
    const cause = (e as { cause?: unknown }).cause;
    if (cause instanceof Error && !e.message.includes(cause.message)) return new Error(`${e.message}: ${cause.message}`);
    return e;
  }
  return new Error(String(e));
}

interface RawObject {
  metadata?: { name?: string; resourceVersion?: string; annotations?: Record<string, string> | null };
  spec?: { podCIDR?: string; podCIDRs?: string[] | null };
}

/** Keeps only what a lease needs from a Node's JSON (list items, GET/PATCH responses, watch events). */
function toNodeView(obj: unknown, keepAnnotation: (key: string) => boolean): NodeView {
  const o = (obj ?? {}) as RawObject;
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries(o.metadata?.annotations ?? {})) if (keepAnnotation(k)) annotations[k] = v;
  const view: NodeView = {
    name: o.metadata?.name ?? '',
    resourceVersion: o.metadata?.resourceVersion ?? '',
    annotations,
    podCIDRs: [...(o.spec?.podCIDRs ?? [])],
    ...(o.spec?.podCIDR ? { podCIDR: o.spec.podCIDR } : {}),
  };
  return view;
}

function toWatchEvent(phase: string, obj: unknown, view: (obj: unknown) => NodeView): NodeWatchEvent {
  if (phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED') return { type: phase, node: view(obj) };
  if (phase === 'BOOKMARK') return { type: 'BOOKMARK', resourceVersion: view(obj).resourceVersion };
  const status = (obj ?? {}) as { code?: unknown; message?: unknown };
  return {
    type: 'ERROR',
    code: typeof status.code === 'number' ? status.code : 0,
    message: typeof status.message === 'string' ? status.message : `watch event ${phase}`,
  };
}
