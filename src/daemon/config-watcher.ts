import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface ConfigWatcherOptions {
  /** How often the file is re-read even without a notification (missed events, odd mounts). */
  readonly pollMs?: number;
  /** Notifications come in bursts (the kubelet writes a directory, then swaps a symlink). */
  readonly settleMs?: number;
}

/**
 * Calls `onChange(text)` whenever the file's content differs from the last content seen.
 * A ConfigMap volume updates by swapping the `..data` symlink in the file's directory, so the
 * directory is watched, not the file, and a slow poll backs the watch up. Unreadable moments
 * (mid-swap) are skipped; the next event or poll reads again.
 */
export function watchConfigFile(path: string, initial: string, onChange: (text: string) => void, signal: AbortSignal, opts: ConfigWatcherOptions = {}): void {
  let last = initial;
  let timer: NodeJS.Timeout | undefined;
  let reading = false;
  const check = async (): Promise<void> => {
    if (reading || signal.aborted) return;
    reading = true;
    try {
      const text = await readFile(path, 'utf8').catch(() => undefined);
      if (text !== undefined && text !== last && !signal.aborted) {
        last = text;
        onChange(text);
      }
    } finally {
      reading = false;
    }
  };
  const soon = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => void check(), opts.settleMs ?? 200);
  };
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(path), { persistent: false }, soon);
    watcher.on('error', () => watcher?.close());
  } catch {
    watcher = undefined; // the poll still works
  }
  const poll = setInterval(() => void check(), opts.pollMs ?? 10_000);
  poll.unref();
  signal.addEventListener(
    'abort',
    () => {
      watcher?.close();
      clearInterval(poll);
      clearTimeout(timer);
    },
    { once: true },
  );
}
