import { exitCodeOf, type Check, type Status } from './check.ts';

/** The report's header facts: which node, backend and lease the checks are about. */
export interface ReportHead {
  readonly node: string | undefined;
  readonly backend: string | undefined;
  readonly lease: string | undefined;
  readonly peers: number;
  readonly at: Date;
}

export interface Report {
  readonly node: string | null;
  readonly backend: string | null;
  readonly lease: string | null;
  readonly peers: number;
  readonly at: string;
  readonly exitCode: 0 | 1 | 2;
  readonly summary: Readonly<Record<Status, number>>;
  readonly checks: readonly Check[];
}

export function buildReport(head: ReportHead, checks: readonly Check[]): Report {
  const summary: Record<Status, number> = { ok: 0, warn: 0, fail: 0, skip: 0 };
  for (const c of checks) summary[c.status]++;
  return {
    node: head.node ?? null,
    backend: head.backend ?? null,
    lease: head.lease ?? null,
    peers: head.peers,
    at: head.at.toISOString(),
    exitCode: exitCodeOf(checks),
    summary,
    checks,
  };
}

const LABEL: Record<Status, string> = { ok: 'ok', warn: 'WARN', fail: 'FAIL', skip: 'skip' };

/** The table for people: one line per check, a fix line under each that is not ok. */
export function renderTable(r: Report): string {
  const idWidth = Math.max(5, ...r.checks.map((c) => c.id.length));
  const pad = (s: string, n: number): string => s + ' '.repeat(Math.max(0, n - s.length));
  const lines = [
    `flanneld doctor: node ${r.node ?? '(unknown)'}, backend ${r.backend ?? '(unknown)'}, lease ${r.lease ?? '(none)'}, ${r.peers} peer${r.peers === 1 ? '' : 's'}, ${r.at}`,
    '',
    `${pad('STATUS', 6)}  ${pad('CHECK', idWidth)}  EVIDENCE`,
  ];
  for (const c of r.checks) {
    lines.push(`${pad(LABEL[c.status], 6)}  ${pad(c.id, idWidth)}  ${c.evidence}`);
    if (c.fix !== undefined && c.status !== 'ok') lines.push(`${' '.repeat(6 + 2 + idWidth + 2)}fix: ${c.fix}`);
  }
  const s = r.summary;
  lines.push('', `${s.fail} fail, ${s.warn} warn, ${s.ok} ok, ${s.skip} skipped: exit ${r.exitCode}`);
  return lines.join('\n') + '\n';
}
