import type { HealthState } from '../observe/health.ts';

/** Why the daemon is not ready yet (null: ready); a function when the reason changes while waiting. */
export type Phase = string | null | (() => string);

/**
 * What /readyz says: a rejected net-conf.json change while there is one (the daemon keeps
 * running the previous config, and an operator should see why their change did nothing), else
 * the phase the daemon is in (null: ready). Both are read at each probe.
 */
export class Readiness {
  private readonly health: HealthState;
  private phase: Phase = 'starting';
  private configProblem: string | undefined;

  constructor(health: HealthState) {
    this.health = health;
  }

  setPhase(phase: Phase): void {
    this.phase = phase;
    this.publish();
  }

  /** A rejected net-conf.json change, shown until a good one arrives; undefined clears it. */
  setConfigProblem(problem: string | undefined): void {
    this.configProblem = problem;
    this.publish();
  }

  private publish(): void {
    this.health.setReady(() => this.configProblem ?? (typeof this.phase === 'function' ? this.phase() : this.phase));
  }
}
