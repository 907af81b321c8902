import type { Logger } from '../../observe/log.ts';

/** How long upstream waits for its node informer's first sync (pkg/subnet/kube/kube.go, nodeControllerSyncTimeout). */
export const NODE_SYNC_TIMEOUT_MS = 10 * 60_000;

export interface SyncDeadline {
  readonly timeoutMs: number;
  /** env CONT_WHEN_CACHE_NOT_READY == "true" (upstream compares exactly that string). */
  readonly continueWhenNotReady: boolean;
  readonly log: Logger;
}

/** Upstream's CONT_WHEN_CACHE_NOT_READY: exactly "true" turns it on. */
export function continueWhenCacheNotReady(env: NodeJS.ProcessEnv): boolean {
  return env['CONT_WHEN_CACHE_NOT_READY'] === 'true';
}

/**
 * Waits for the first complete list of nodes as upstream's main.go does: at most 10 minutes,
 * then a startup failure (exit 1, the kubelet restarts the pod) — unless
 * CONT_WHEN_CACHE_NOT_READY=true, which logs upstream's line once and keeps waiting.
 */
export async function waitForNodeSync(wait: (signal: AbortSignal) => Promise<void>, d: SyncDeadline, signal: AbortSignal): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), d.timeoutMs);
  });
  try {
    if ((await Promise.race([wait(signal).then(() => 'synced' as const), deadline])) === 'synced') return;
  } finally {
    clearTimeout(timer);
  }
  const waited = d.timeoutMs < 1000 ? `${d.timeoutMs} ms` : `${d.timeoutMs / 1000} s`;
  if (!d.continueWhenNotReady) {
    throw new Error(`error waiting for nodeController to sync state: no complete list of nodes from the API server within ${waited} (set CONT_WHEN_CACHE_NOT_READY=true to keep waiting)`);
  }
  d.log.error({ waited }, 'Timed out waiting for node controller sync. Continuing anyway.');
  await wait(signal);
}
