/**
 * Waiting between attempts: exponential backoff, one retry loop built on it, and a sleep that
 * an abort signal cuts short. The Kubernetes client, the node watch, the reconcile loop and the
 * rule resync all wait through these.
 */

/** Exponential backoff: the first wait is initialMs, each further one doubles, up to maxMs. */
export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
}

/** The wait before retry number `attempt` (1 for the first). */
export function backoffDelay(attempt: number, b: BackoffOptions): number {
  return Math.min(b.initialMs * 2 ** Math.max(0, attempt - 1), b.maxMs);
}

/** Backoff state for a loop: next() after each failure, reset() after a success. */
export class Backoff {
  private readonly opts: BackoffOptions;
  private failures = 0;

  constructor(opts: BackoffOptions) {
    this.opts = opts;
  }

  /** The wait that next() will return. */
  get delayMs(): number {
    return backoffDelay(this.failures + 1, this.opts);
  }

  /** Counts a failure and returns the wait before the next attempt. */
  next(): number {
    this.failures++;
    return backoffDelay(this.failures, this.opts);
  }

  reset(): void {
    this.failures = 0;
  }
}

/**
 * Resolves after `ms`, or as soon as `signal` aborts (at once when it already has). Never
 * rejects, so a loop that sleeps needs no try: it checks `signal.aborted` afterwards. Resolves
 * true when the whole time passed, false when the signal cut it short.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const finish = (slept: boolean): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(slept);
    };
    const onAbort = (): void => finish(false);
    const timer = setTimeout(() => finish(true), ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface RetryOptions {
  readonly backoff: BackoffOptions;
  readonly signal: AbortSignal;
  /** Attempts in all, the first included; Infinity (the default) tries until success or abort. */
  readonly attempts?: number;
  /** Told about each failure that will be retried, and how long the wait before the next try is. */
  readonly onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

/**
 * Runs `fn` until it resolves, waiting with backoff after each failure. Rejects with the last
 * failure when `attempts` are used up, and with the signal's reason once it aborts (checked
 * before every attempt; an abort cuts the wait short).
 */
export async function retry<T>(fn: () => Promise<T>, opts: RetryOptions): Promise<T> {
  const backoff = new Backoff(opts.backoff);
  const attempts = opts.attempts ?? Infinity;
  for (let attempt = 1; ; attempt++) {
    opts.signal.throwIfAborted();
    try {
      return await fn();
    } catch (e) {
      if (attempt >= attempts) throw e;
      const delay = backoff.next();
      opts.onRetry?.(e, attempt, delay);
      await sleep(delay, opts.signal);
    }
  }
}
