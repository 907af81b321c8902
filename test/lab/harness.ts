/**
 * Helpers for tests that need the multi-node lab (lab/lab.ts). Each test file builds its
 * own lab under a random prefix in beforeAll and removes it in afterAll, so a failing test never
 * leaves namespaces or processes behind; tests skip (with the reason) where the lab cannot run.
 *
 *   describe.skipIf(!labReady.ok)('vxlan', () => {
 *     const lab = useLab({ nodes: 3, backend: 'vxlan' });
 *     it('…', async () => { expect((await lab().waitForFullConnectivity()).failures).toEqual([]); });
 *   });
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll } from 'vitest';
import { createLab, Lab, type LabOptions } from '../../lab/lab.ts';
import { FLANNELD_ENTRY } from '../../lab/paths.ts';
import { preflightProblems } from '../../lab/preflight.ts';
import { sweepStaleLabs, teardown } from '../../lab/teardown.ts';

export { Lab, type LabOptions };

/** Whether this machine can build a lab at all (root, ip, ping, CNI plugins). */
export const labReady: { readonly ok: boolean; readonly why: string } = (() => {
  const problems = preflightProblems();
  return { ok: problems.length === 0, why: problems.join('; ') };
})();

/** Whether the daemon entry exists yet (tests of daemon behaviour need it). */
export const daemonReady: boolean = existsSync(FLANNELD_ENTRY);

/** Tests of the running daemon skip (with the reason in their title) where no lab can be built. */
export const daemonLabSkip: { readonly skip: boolean; readonly why: string } = {
  skip: !labReady.ok || !daemonReady,
  why: !labReady.ok ? labReady.why : 'src/cli/flanneld.ts does not exist yet',
};

/** Building a lab with daemons takes a few seconds per node; give hooks room. */
export const LAB_HOOK_TIMEOUT_MS = 120_000;

/**
 * Builds a lab before the tests of the enclosing describe and removes it after them, also when
 * they fail. Returns an accessor, since the lab exists only once beforeAll has run.
 */
export function useLab(opts: LabOptions): () => Lab {
  let lab: Lab | undefined;
  let prefix: string | undefined;
  beforeAll(async () => {
    await sweepStaleLabs();
    lab = await createLab(opts);
    prefix = lab.prefix;
  }, LAB_HOOK_TIMEOUT_MS);
  afterAll(async () => {
    if (prefix !== undefined) await teardown(prefix);
  }, LAB_HOOK_TIMEOUT_MS);
  return () => {
    if (lab === undefined) throw new Error('the lab is not built (beforeAll failed or has not run)');
    return lab;
  };
}

/** Builds a lab for one test body and always removes it. */
export async function withLab<T>(opts: LabOptions, body: (lab: Lab) => Promise<T>): Promise<T> {
  await sweepStaleLabs();
  const lab = await createLab(opts);
  try {
    return await body(lab);
  } finally {
    await lab.destroy();
  }
}
