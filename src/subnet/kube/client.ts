/**
 * The only module that imports @kubernetes/client-node (0.5 s and ~90 MB RSS to load, DESIGN.md).
 * Everything else sees the narrow KubeApi below and plain NodeView records, so the manager loads
 * it with one dynamic import and the library can be bundled or replaced in one place.
 */
import { ApiException, CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions, Watch } from '@kubernetes/client-node';
import type { KubeApi, NodeList, NodeView, NodeWatchEvent, WatchHandle } from './api.ts';
import { KubeApiError } from './api.ts';

export interface KubeClientOptions {
  /** --kubeconfig-file; '' or undefined for none. */
  readonly kubeconfigFile?: string;
  /** --kube-api-url; overrides the kubeconfig's server. */
  readonly apiUrl?: string;
}

/**
 * Builds the client as client-go's BuildConfigFromFlags(apiUrl, kubeconfig) does: the kubeconfig
 * when given (with the URL overriding its server), only the URL when that is all there is, and the
 * in-cluster service account when both are empty.
 */
export function loadKubeConfig(opts: KubeClientOptions): KubeConfig {
  const kc = new KubeConfig();
  const file = opts.kubeconfigFile ?? '';
  const url = opts.apiUrl ?? '';
  if (file !== '') {
    kc.loadFromFile(file);
    if (url !== '') {
      const current = kc.getCurrentCluster();
      if (current === null) throw new Error(`kubeconfig ${file} has no current cluster to point at ${url}`);
      kc.clusters = kc.clusters.map((c) => (c.name === current.name ? { ...c, server: url } : c));
    }
  } else if (url !== '') {
    kc.loadFromOptions({
      clusters: [{ name: 'flannel', server: url }],
      users: [{ name: 'flannel' }],
      contexts: [{ name: 'flannel', cluster: 'flannel', user: 'flannel' }],
      currentContext: 'flannel',
    });
  } else {
    if (!process.env['KUBERNETES_SERVICE_HOST'] || !process.env['KUBERNETES_SERVICE_PORT']) {
      throw new Error(
        'unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined (or pass --kubeconfig-file / --kube-api-url)',
      );
    }
    kc.loadFromCluster();
  }
  // client-go talks plain HTTP to an http:// server; client-node refuses unless skipTLSVerify is
  // set, which for a server without TLS changes nothing else.
  kc.clusters = kc.clusters.map((c) => (c.server.startsWith('http://') ? { ...c, skipTLSVerify: true } : c));
  return kc;
}

export function createKubeApi(opts: KubeClientOptions): KubeApi {
  return new ClientNodeApi(loadKubeConfig(opts));
}

// client-node's generated patch methods default to application/json-patch+json; flannel's
// patches are strategic merges (a merge patch would replace the kubelet's conditions list).
const STRATEGIC_MERGE = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);

class ClientNodeApi implements KubeApi {
  readonly server: string;
  private readonly core: CoreV1Api;
  private readonly watcher: Watch;

  constructor(kc: KubeConfig) {
    this.server = kc.getCurrentCluster()?.server ?? '';
    this.core = kc.makeApiClient(CoreV1Api);
    this.watcher = new Watch(kc);
  }

  async getNode(name: string): Promise<NodeView> {
    return toNodeView(await call(`get node "${name}"`, () => this.core.readNode({ name })));
  }

  async listNodes(): Promise<NodeList> {
    const list = await call('list nodes', () => this.core.listNode());
    return { resourceVersion: list.metadata?.resourceVersion ?? '', nodes: list.items.map(toNodeView) };
  }

  async patchNodeStatus(name: string, body: object): Promise<NodeView> {
    return toNodeView(await call(`patch node "${name}" status`, () => this.core.patchNodeStatus({ name, body }, STRATEGIC_MERGE)));
  }

  async getPodNodeName(namespace: string, name: string): Promise<string> {
    const pod = await call(`get pod "${namespace}/${name}"`, () => this.core.readNamespacedPod({ namespace, name }));
    return pod.spec?.nodeName ?? '';
  }

  async watchNodes(resourceVersion: string, onEvent: (ev: NodeWatchEvent) => void, onDone: (err?: Error) => void): Promise<WatchHandle> {
    const controller = await this.watcher.watch(
      '/api/v1/nodes',
      { resourceVersion, allowWatchBookmarks: true },
      (phase: string, obj: unknown) => onEvent(toWatchEvent(phase, obj)),
      (err: unknown) => onDone(err === null || err === undefined ? undefined : asError(err)),
    );
    return { stop: () => controller.abort() };
  }
}

async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof ApiException) {
      const body = e.body as unknown;
      let message = typeof body === 'string' ? body : '';
      try {
        const parsed = (typeof body === 'string' ? JSON.parse(body) : body) as { message?: unknown };
        if (typeof parsed?.message === 'string') message = parsed.message;
      } catch {
        // the body was not JSON; keep it as text
      }
      throw new KubeApiError(`${what}: HTTP ${e.code}${message ? `: ${message}` : ''}`, e.code);
    }
    throw new KubeApiError(`${what}: ${asError(e).message}`, 0);
  }
}

function asError(e: unknown): Error {
  if (e instanceof Error) {
    // undici hides the useful part (ECONNREFUSED …) in the cause.
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

/** Works on client-node's deserialized V1Node and on raw watch JSON alike: the field names agree. */
function toNodeView(obj: unknown): NodeView {
  const o = (obj ?? {}) as RawObject;
  const view: NodeView = {
    name: o.metadata?.name ?? '',
    resourceVersion: o.metadata?.resourceVersion ?? '',
    annotations: { ...(o.metadata?.annotations ?? {}) },
    podCIDRs: [...(o.spec?.podCIDRs ?? [])],
    ...(o.spec?.podCIDR ? { podCIDR: o.spec.podCIDR } : {}),
  };
  return view;
}

function toWatchEvent(phase: string, obj: unknown): NodeWatchEvent {
  if (phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED') return { type: phase, node: toNodeView(obj) };
  if (phase === 'BOOKMARK') return { type: 'BOOKMARK', resourceVersion: toNodeView(obj).resourceVersion };
  const status = (obj ?? {}) as { code?: unknown; message?: unknown };
  return {
    type: 'ERROR',
    code: typeof status.code === 'number' ? status.code : 0,
    message: typeof status.message === 'string' ? status.message : `watch event ${phase}`,
  };
}
