import { errorText } from '../util/errors.ts';
import { ConfigError } from '../config/config-error.ts';
import { parseNetConf } from '../config/netconf.ts';
import type { NetConf } from '../config/types.ts';
import type { Logger } from '../observe/log.ts';
import type { Metrics } from '../observe/metrics.ts';
import { restartOnlyChanges } from './config-diff.ts';
import type { Readiness } from './readiness.ts';

export interface BackendSwitchDeps {
  /** net-conf.json, for messages. */
  readonly path: string;
  readonly log: Logger;
  readonly metrics: Pick<Metrics, 'configReloadFailed'>;
  /** A config is now in effect (metrics, /debug/state, its accepted-with-warning problems). */
  readonly applied: (conf: NetConf) => void;
  readonly readiness: Readiness;
  /**
   * Switches the node to `conf`'s backend without tearing the old one down: the new one up,
   * the node re-annotated, subnet.env rewritten (docs/migration.md). The old one goes when no
   * peer may still use it. On failure the old one still runs and is still advertised.
   */
  readonly switchTo: (conf: NetConf, signal: AbortSignal) => Promise<void>;
}

/**
 * Applies changed net-conf.json texts (the kubelet swapped the ConfigMap volume), one after
 * another. A valid backend change is applied live and without an outage: each peer keeps being
 * reached the way it advertises, and this node keeps receiving the way peers still send.
 * Anything invalid, or a change that needs a restart, keeps the running config and says why in
 * the log, the metrics and /readyz.
 */
export class BackendSwitch {
  private readonly deps: BackendSwitchDeps;
  /** The net-conf.json in effect. */
  private running: NetConf;
  private queue: Promise<void> = Promise.resolve();

  constructor(deps: BackendSwitchDeps, running: NetConf) {
    this.deps = deps;
    this.running = running;
  }

  /** Queues a changed file's text; it is applied after every change queued before it. */
  offer(text: string, signal: AbortSignal): void {
    this.queue = this.queue.then(() => this.apply(text, signal));
  }

  private async apply(text: string, signal: AbortSignal): Promise<void> {
    const { path, log, readiness } = this.deps;
    if (signal.aborted) return;
    const running = this.running;
    let next: NetConf;
    try {
      next = parseNetConf(text, path);
    } catch (e) {
      const msg = e instanceof ConfigError ? e.message : `${path}: ${errorText(e)}`;
      this.reject(`net-conf.json invalid: ${msg}`);
      return;
    }
    const needsRestart = restartOnlyChanges(running, next);
    if (needsRestart.length > 0) {
      this.reject(`net-conf.json changed ${needsRestart.join(', ')}, which takes a restart of flanneld; still running the previous config`);
      return;
    }
    readiness.setConfigProblem(undefined);
    if (JSON.stringify(running.backend) === JSON.stringify(next.backend)) {
      this.running = next; // the same settings; its warnings may differ
      this.deps.applied(next);
      return;
    }
    log.info({ from: running.backend, to: next.backend }, `net-conf.json changed: switching backend ${running.backend.type} → ${next.backend.type}`);
    try {
      await this.deps.switchTo(next, signal);
      this.running = next;
      this.deps.applied(next);
    } catch (e) {
      if (signal.aborted) return;
      this.reject(`switching to the ${next.backend.type} backend failed: ${errorText(e)}; still running and advertising ${running.backend.type}`);
    }
  }

  private reject(problem: string): void {
    this.deps.log.error(problem);
    this.deps.metrics.configReloadFailed();
    this.deps.readiness.setConfigProblem(problem);
  }
}
