/**
 * What the kube subnet manager needs from the Kubernetes API, independent of the client library
 * (client.ts implements it with @kubernetes/client-node).
 */

/** The parts of a Node flannel reads. `annotations` is {} for a node without any. */
export interface NodeView {
  readonly name: string;
  readonly resourceVersion: string;
  readonly annotations: Readonly<Record<string, string>>;
  readonly podCIDR?: string;
  readonly podCIDRs: readonly string[];
}

export interface NodeList {
  readonly resourceVersion: string;
  readonly nodes: readonly NodeView[];
}

export type NodeWatchEvent =
  | { readonly type: 'ADDED' | 'MODIFIED' | 'DELETED'; readonly node: NodeView }
  | { readonly type: 'BOOKMARK'; readonly resourceVersion: string }
  /** A Status sent as a watch event; code 410 means the resourceVersion is too old: relist. */
  | { readonly type: 'ERROR'; readonly code: number; readonly message: string };

export interface WatchHandle {
  stop(): void;
}

export interface KubeApi {
  /** The API server URL, for logs. */
  readonly server: string;
  getNode(name: string): Promise<NodeView>;
  listNodes(): Promise<NodeList>;
  /** Calls `onDone` exactly once, when the stream ends for any reason (also after stop()). */
  watchNodes(resourceVersion: string, onEvent: (ev: NodeWatchEvent) => void, onDone: (err?: Error) => void): Promise<WatchHandle>;
  /** A strategic-merge PATCH of nodes/<name>/status. */
  patchNodeStatus(name: string, body: object): Promise<NodeView>;
  /** The pod's spec.nodeName, '' when unscheduled. */
  getPodNodeName(namespace: string, name: string): Promise<string>;
}

/** An API call failed; `code` is the HTTP status, 0 when no response arrived. */
export class KubeApiError extends Error {
  readonly code: number;
  constructor(message: string, code: number) {
    super(message);
    this.name = 'KubeApiError';
    this.code = code;
  }
}
