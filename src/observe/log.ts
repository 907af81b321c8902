import { pino, type Logger, type LevelWithSilent } from 'pino';
import { callerOf, klogStream, nowMicros } from './klog.ts';

export type { Logger };

export interface LogOptions {
  readonly level?: LevelWithSilent;
  /**
   * 'text' (the default): klog's line, as Kubernetes components and upstream flanneld write;
   * 'json': one object per line, as `--logging-format=json` gives in Kubernetes components.
   */
  readonly format?: 'json' | 'text';
  readonly destination?: NodeJS.WritableStream | number;
}

/** pino's mixin → its write → its level method → the caller (pinned by test/unit/observe/klog.test.ts). */
const CALLER_DEPTH = 3;

export function createLogger(opts: LogOptions = {}): Logger {
  const level = opts.level ?? 'info';
  const dest = opts.destination ?? 2;
  const stream = typeof dest === 'number' ? pino.destination({ fd: dest, sync: true }) : dest;
  if (opts.format === 'json') {
    return pino({ level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, stream);
  }
  return pino(
    {
      level,
      base: undefined,
      timestamp: () => `,"time":${nowMicros()}`,
      // The call site, klog's file:line. Computed only here, in text mode.
      mixin: () => ({ caller: callerOf(CALLER_DEPTH) }),
    },
    klogStream(stream),
  );
}

/** A logger that drops everything; for tests and tools. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
