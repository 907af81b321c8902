import type { ProbeFn, ProbeResult } from './icmp.ts';
import { MIN_PROBE_BYTES } from './packet.ts';

/** ping's default: 56 bytes of payload, an 84-byte IP packet. */
export const ECHO_BYTES = 84;

export interface PathCheckOptions {
  readonly timeoutMs: number;
  /** Tries per size before it counts as failed (one lost packet must not fail a peer). */
  readonly attempts: number;
}

export interface PathCheck {
  readonly dst: string;
  /** An 84-byte echo was answered. */
  readonly reachable: boolean;
  readonly rttMs?: number;
  /** The size probed with DF: the pod MTU. */
  readonly mtu: number;
  /** A DF packet of `mtu` bytes was answered. */
  readonly mtuPasses: boolean;
  /** The largest size answered (when reachable); equals `mtu` when it passes. */
  readonly largest?: number;
  /** The last failure, in ping's words, when something failed. */
  readonly detail?: string;
}

/** Up to `attempts` probes of one size; the first answer wins. */
export async function probeSize(probe: ProbeFn, dst: string, size: number, opts: PathCheckOptions): Promise<ProbeResult> {
  let last: ProbeResult | undefined;
  for (let i = 0; i < Math.max(1, opts.attempts); i++) {
    last = await probe(dst, size, opts.timeoutMs);
    // Only silence is worth another try: a refusal (EMSGSIZE here, frag needed on the path) is an answer.
    if (last.ok || last.reason !== 'timeout') return last;
  }
  return last!;
}

/**
 * What `ping -c1 PEER` then `ping -M do -s (MTU-28) PEER` would tell, and when the second fails,
 * the largest size that does pass (binary search; a frag-needed answer's MTU is tried first).
 */
export async function checkPath(probe: ProbeFn, dst: string, mtu: number, opts: PathCheckOptions): Promise<PathCheck> {
  const echo = await probeSize(probe, dst, Math.min(ECHO_BYTES, mtu), opts);
  if (!echo.ok) return { dst, reachable: false, mtu, mtuPasses: false, detail: echo.detail };
  const full = await probeSize(probe, dst, mtu, opts);
  if (full.ok) return { dst, reachable: true, rttMs: echo.rttMs, mtu, mtuPasses: true, largest: mtu };
  let lo = Math.min(ECHO_BYTES, mtu);
  let hi = mtu;
  if (full.mtu !== undefined && full.mtu > lo && full.mtu < hi) {
    const hint = await probeSize(probe, dst, full.mtu, opts);
    if (hint.ok) lo = full.mtu;
    else hi = full.mtu;
  }
  while (hi - lo > 1) {
    const mid = Math.max(MIN_PROBE_BYTES, Math.floor((lo + hi) / 2));
    const r = await probeSize(probe, dst, mid, opts);
    if (r.ok) lo = mid;
    else hi = mid;
  }
  return { dst, reachable: true, rttMs: echo.rttMs, mtu, mtuPasses: false, largest: lo, detail: full.detail };
}

/** Runs `fn` over `items` with at most `limit` at once; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
