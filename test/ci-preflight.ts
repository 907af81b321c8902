/**
 * vitest globalSetup. Kernel and lab tests skip where they cannot run (not root, no CNI plugins),
 * which is right on a laptop and wrong in CI: there a skipped kernel test would hide a missing
 * install step. With CI set, the run fails up front instead.
 */
import { preflightProblems } from '../lab/preflight.ts';

export default function setup(): void {
  if (process.env.CI === undefined || process.env.CI === '' || process.env.CI === 'false') return;
  const problems = preflightProblems();
  if (process.getuid?.() !== 0) problems.unshift('not running as root');
  if (problems.length > 0) {
    throw new Error(`CI=true but the kernel and lab tests cannot run here: ${problems.join('; ')} (run scripts/setup.sh as root)`);
  }
}
