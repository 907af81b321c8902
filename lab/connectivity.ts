/**
 * Pings between pods: what a user would check first. ICMP echo is answered by the target's
 * kernel, so no responder process is needed in any pod.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { runIn } from './harness/exec.ts';

export interface Endpoint {
  readonly name: string;
  readonly netns: string;
  /** Pinged as is: IPv4, or IPv6 (ping picks the family from the address). */
  readonly ip: string;
  /** A pod's IPv6 address in a dual-stack lab. */
  readonly ip6?: string;
}

/** One echo request with a 2 s wait; true when the reply came back. */
export async function ping(from: Endpoint, toIp: string): Promise<boolean> {
  const r = await runIn(from.netns, ['ping', '-n', '-q', '-c', '1', '-W', '2', toIp], { allowFailure: true });
  return r.code === 0;
}

export interface Matrix {
  readonly endpoints: readonly Endpoint[];
  /** ok[i][j]: endpoints[i] reached endpoints[j] (the diagonal is true). */
  readonly ok: readonly (readonly boolean[])[];
  /** "a -> b" for every pair that failed. */
  readonly failures: readonly string[];
}

/** Every endpoint pings every other, a few at a time (failures each cost the full wait). */
export async function pingMatrix(endpoints: readonly Endpoint[], concurrency = 8): Promise<Matrix> {
  const ok = endpoints.map((_, i) => endpoints.map((__, j) => i === j));
  const pairs: [number, number][] = [];
  endpoints.forEach((_, i) => endpoints.forEach((__, j) => i !== j && pairs.push([i, j])));
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < pairs.length) {
      const [i, j] = pairs[next++]!;
      ok[i]![j] = await ping(endpoints[i]!, endpoints[j]!.ip);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, pairs.length) }, worker));
  const failures = pairs.filter(([i, j]) => !ok[i]![j]).map(([i, j]) => `${endpoints[i]!.name} -> ${endpoints[j]!.name}`);
  return { endpoints, ok, failures };
}

/**
 * Repeats the matrix until every pair answers or the time is up, and returns the last matrix.
 * Daemons learn their peers through the API after they write subnet.env, so the first seconds
 * may legitimately miss routes; a pair that never answers shows up in `failures`.
 */
export async function waitForFullConnectivity(endpoints: readonly Endpoint[], timeoutMs = 30_000): Promise<Matrix> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = await pingMatrix(endpoints);
    if (m.failures.length === 0 || Date.now() >= deadline) return m;
    await sleep(500);
  }
}

export function formatMatrix(m: Matrix): string {
  const names = m.endpoints.map((e) => e.name);
  const width = Math.max(4, ...names.map((n) => n.length));
  const pad = (s: string): string => s.padEnd(width);
  const header = `${pad('from\\to')} ${names.map(pad).join(' ')}`;
  const rows = m.endpoints.map((e, i) => `${pad(e.name)} ${m.ok[i]!.map((v, j) => pad(i === j ? '-' : v ? 'ok' : 'FAIL')).join(' ')}`);
  return [header, ...rows].map((line) => line.trimEnd()).join('\n');
}

export interface PingStats {
  readonly transmitted: number;
  readonly received: number;
}

/**
 * A steady stream of echoes (for example 100/s across a daemon restart) and how many came back.
 * Start it, do the disruptive thing, then await it. Intervals below 0.2 s need root (the lab is root).
 */
export async function pingStream(from: Endpoint, toIp: string, count: number, intervalSeconds = 0.01): Promise<PingStats> {
  const r = await runIn(from.netns, ['ping', '-n', '-q', '-c', String(count), '-i', String(intervalSeconds), '-W', '1', toIp], { allowFailure: true });
  const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
  if (m === null) throw new Error(`ping from ${from.name} to ${toIp} printed no summary: ${r.stdout}${r.stderr}`);
  return { transmitted: Number(m[1]), received: Number(m[2]) };
}
