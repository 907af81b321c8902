import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export interface LogOptions {
  readonly level?: LevelWithSilent;
  /** 'json' (default), or 'text' for a terminal. */
  readonly format?: 'json' | 'text';
  readonly destination?: NodeJS.WritableStream | number;
}

/**
 * One JSON line per event by default (machine-read in clusters); `text` renders
 * `LEVEL msg key=value` for a terminal without a second dependency.
 */
export function createLogger(opts: LogOptions = {}): Logger {
  const level = opts.level ?? 'info';
  const dest = opts.destination ?? 2;
  const stream = typeof dest === 'number' ? pino.destination({ fd: dest, sync: true }) : dest;
  if (opts.format === 'text') {
    return pino({ level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, textStream(stream));
  }
  return pino({ level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, stream);
}

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

function textStream(out: NodeJS.WritableStream | { write(s: string): unknown }): { write(s: string): void } {
  return {
    write(line: string): void {
      const rec = JSON.parse(line) as Record<string, unknown>;
      const { level, time, msg, ...rest } = rec;
      const extra = Object.entries(rest)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      out.write(`${String(time)} ${LEVEL_NAMES[level as number] ?? String(level)} ${String(msg ?? '')}${extra ? ' ' + extra : ''}\n`);
    },
  };
}

/** A logger that drops everything; for tests and tools. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
