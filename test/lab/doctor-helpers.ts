/** `flanneld doctor --json` on a lab node, and the report's checks by id, for the doctor's lab tests. */
import { runDoctor } from '../../lab/doctor.ts';
import type { Lab } from '../../lab/lab.ts';
import type { Check } from '../../src/doctor/check.ts';
import type { Report } from '../../src/doctor/report.ts';

/** Runs the doctor on node i with --json and `extra`; its exit code and report (a clear error when it printed no JSON). */
export async function doctorReport(lab: Lab, i: number, extra: readonly string[] = []): Promise<{ code: number; report: Report }> {
  const r = await runDoctor(lab.state, i, ['--json', ...extra]);
  try {
    return { code: r.code, report: JSON.parse(r.stdout) as Report };
  } catch {
    throw new Error(`doctor on node ${i} printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
}

/** The check `id` of the report; throws naming the checks there are when it is missing. */
export function check(report: Report, id: string): Check {
  const c = report.checks.find((x) => x.id === id);
  if (c === undefined) throw new Error(`no check ${id} in ${report.checks.map((x) => x.id).join(', ')}`);
  return c;
}

/** Every check that is not ok, as `id status: evidence`. */
export function notOk(report: Report): string[] {
  return report.checks.filter((c) => c.status !== 'ok').map((c) => `${c.id} ${c.status}: ${c.evidence}`);
}
