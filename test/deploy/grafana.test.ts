import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { METRIC_DOCS, createMetrics } from '../../src/observe/metrics.ts';

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: Array<{ expr: string }>;
}
interface Variable {
  name: string;
  query?: { query: string };
  allValue?: string;
}
const dashboard = JSON.parse(readFileSync(new URL('../../deploy/grafana/flannel-ts.json', import.meta.url), 'utf8')) as { uid: string; panels: Panel[]; templating: { list: Variable[] } };
const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
// Metric names in PromQL: identifiers followed by { or [ or ) … that look like our exports.
const used = new Set(exprs.flatMap((e) => [...e.matchAll(/\b((?:flannel|process|nodejs)_[a-z0-9_]+)/g)].map((m) => m[1]!)));

describe('deploy/grafana/flannel-ts.json', () => {
  it('plots every flannel metric', () => {
    const plotted = (name: string) => [...used].some((u) => u === name || u === `${name}_bucket`);
    expect(METRIC_DOCS.map((m) => m.name).filter((n) => !plotted(n))).toEqual([]);
  });

  it('queries only series the daemon exports', async () => {
    const text = await createMetrics({ version: 'x' }).scrape();
    const exported = new Set([...text.matchAll(/^# TYPE (\S+) (\S+)/gm)].flatMap(([, name, type]) => (type === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name!])));
    expect([...used].filter((u) => !exported.has(u))).toEqual([]);
  });

  it("filters every query on the flannel job and instances, so process_* and nodejs_* show flanneld's process only", () => {
    for (const e of exprs) expect(e, e).toMatch(/\{job=~"\$job", instance=~"\$instance"[,}]/);
    const vars = new Map(dashboard.templating.list.map((v) => [v.name, v]));
    // Both variables list only what exports flannel_build_info; "All" is the list of those, not ".*".
    expect(vars.get('job')!.query!.query).toBe('label_values(flannel_build_info, job)');
    expect(vars.get('instance')!.query!.query).toBe('label_values(flannel_build_info{job=~"$job"}, instance)');
    expect(vars.get('job')!.allValue).toBeUndefined();
    expect(vars.get('instance')!.allValue).toBeUndefined();
  });

  it('has unique panel ids and no overlapping panels', () => {
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const cells = new Set<string>();
    for (const p of dashboard.panels) {
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
          const cell = `${x},${y}`;
          expect(cells.has(cell), `${p.title} overlaps at ${cell}`).toBe(false);
          cells.add(cell);
        }
      }
    }
    expect(dashboard.uid).toBe('flannel-ts');
  });
});
