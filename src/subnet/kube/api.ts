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

/** One page of a node list (the whole list when no limit was asked for). */
export interface NodeList {
  readonly resourceVersion: string;
  readonly nodes: readonly NodeView[];
  /** The token that asks for the next page; '' after the last page. */
  readonly continue: string;
}

export interface ListOptions {
  /** Items per page; 0 or absent: everything in one response. */
  readonly limit?: number;
  /** The previous page's continue token. */
  readonly continue?: string;
}

export interface WatchOptions {
  /** Asks the server to end the watch cleanly after this long (it then says so with a clean end of stream). */
  readonly timeoutSeconds?: number;
}

/**
 * How a watch stream ended: `closed` — the server finished the response (its timeoutSeconds ran
 * out, or it shut down in an orderly way); `error` — the request failed, the connection broke,
 * or the stream was silent too long; `stopped` — stop() was called.
 */
export type WatchEnd = { readonly kind: 'closed' } | { readonly kind: 'stopped' } | { readonly kind: 'error'; readonly error: Error };

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
  /** A failure with an expired `continue` token is a KubeApiError with code 410. */
  listNodes(opts?: ListOptions): Promise<NodeList>;
  /** Calls `onDone` exactly once, when the stream ends for any reason (also after stop()). */
  watchNodes(resourceVersion: string, opts: WatchOptions, onEvent: (ev: NodeWatchEvent) => void, onDone: (end: WatchEnd) => void): Promise<WatchHandle>;
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
