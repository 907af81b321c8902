/** One line of the doctor's report. */
export type Status = 'ok' | 'warn' | 'fail' | 'skip';

export interface Check {
  /** Stable id, `group.name` (e.g. 'datapath.peers'): what tools and tests key on. */
  readonly id: string;
  readonly status: Status;
  /** One line of evidence: what was seen, naming the node, peer, file or rule. */
  readonly evidence: string;
  /** One line of what to do; set when the status is not ok. */
  readonly fix?: string;
  /** Structured details for --json (the peers that differ, the sizes that passed, …). */
  readonly data?: unknown;
}

export const ok = (id: string, evidence: string, data?: unknown): Check => ({ id, status: 'ok', evidence, ...(data !== undefined ? { data } : {}) });
export const warn = (id: string, evidence: string, fix: string, data?: unknown): Check => ({ id, status: 'warn', evidence, fix, ...(data !== undefined ? { data } : {}) });
export const fail = (id: string, evidence: string, fix: string, data?: unknown): Check => ({ id, status: 'fail', evidence, fix, ...(data !== undefined ? { data } : {}) });
export const skip = (id: string, evidence: string): Check => ({ id, status: 'skip', evidence });

/** 0 all ok (or skipped), 1 a warning, 2 a failure. */
export function exitCodeOf(checks: readonly Check[]): 0 | 1 | 2 {
  if (checks.some((c) => c.status === 'fail')) return 2;
  if (checks.some((c) => c.status === 'warn')) return 1;
  return 0;
}

/** "a, b, c and 4 more": names in one evidence line without making it endless. */
export function listNames(names: readonly string[], max = 5): string {
  if (names.length <= max) return names.join(', ');
  return `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
}

/** "1 peer", "2 peers". */
export function count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
