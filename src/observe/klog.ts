/**
 * klog's text line, the format Kubernetes components (and upstream flanneld) write by default:
 *
 *   I1129 23:09:51.123456   12345 daemon.ts:228] Wrote subnet file to /run/flannel/subnet.env
 *
 * severity letter (I, W, E, F), month and day, wall-clock time with microseconds, the process
 * id right-aligned in 7 columns, the source file and line of the log call, `]`, the message.
 * Fields of a structured call follow as klog's key=value pairs (strings quoted as Go's %q,
 * everything else as JSON), as klog's InfoS does. Operators' runbooks grep these lines.
 *
 * pino still does the levels and the serialisation; this is the stream its JSON lines go to.
 * Logs are rare (startup, lease events, repairs), so parsing each line back costs nothing
 * that matters, and one code path feeds both formats.
 */

const SEVERITY: Record<number, string> = { 10: 'I', 20: 'I', 30: 'I', 40: 'W', 50: 'E', 60: 'F' };

const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n));

/** The klog header for a time in microseconds since the epoch (local time, as klog). */
export function klogHeader(severity: string, micros: number, pid: number, caller: string): string {
  const d = new Date(Math.floor(micros / 1000));
  const us = String(Math.floor(micros % 1_000_000)).padStart(6, '0');
  const time = `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}.${us}`;
  return `${severity}${pad2(d.getMonth() + 1)}${pad2(d.getDate())} ${time} ${String(pid).padStart(7)} ${caller}]`;
}

/** klog's value rendering: strings quoted like Go's %q, errors by message, the rest as JSON. */
function value(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  // pino serialises an Error as {type, message, stack}: klog prints an error by its message.
  const msg = typeof v === 'object' && v !== null && 'stack' in v ? (v as { message?: unknown }).message : undefined;
  if (typeof msg === 'string') return JSON.stringify(msg);
  return JSON.stringify(v) ?? String(v);
}

/**
 * One pino JSON record as a klog line. `time` is microseconds since the epoch (the logger's
 * timestamp in text mode), `caller` the file:line the logger recorded.
 */
export function klogLine(rec: Record<string, unknown>, pid: number): string {
  const { level, time, msg, caller, ...fields } = rec;
  const sev = SEVERITY[level as number] ?? 'I';
  const micros = typeof time === 'number' ? time : Date.now() * 1000;
  let line = `${klogHeader(sev, micros, pid, typeof caller === 'string' ? caller : '???:1')} ${typeof msg === 'string' ? msg : ''}`;
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    line += ` ${k}=${value(v)}`;
  }
  return `${line.replace(/\n/g, '\\n')}\n`;
}

/** A stream for pino that writes klog lines to `out`. */
export function klogStream(out: { write(s: string): unknown }, pid = process.pid): { write(s: string): void } {
  return {
    write(json: string): void {
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(json) as Record<string, unknown>;
      } catch {
        out.write(json);
        return;
      }
      out.write(klogLine(rec, pid));
    },
  };
}

/** Microseconds since the epoch, for the klog timestamp (pino's own clock has milliseconds). */
export function nowMicros(): number {
  return Math.floor((performance.timeOrigin + performance.now()) * 1000);
}

/**
 * The file:line of the code that called the logger. pino calls its `mixin` from its write
 * function, which its level method calls, which the caller called: the caller is the fourth
 * frame (a test pins this). Only computed in text mode. V8's call-site objects are read instead
 * of the formatted stack, which cost more than the rest of the line: bench/scale.ts with 10,000
 * peers, whose start logs a line per peer, went from 3.8 to 2.9 s of daemon CPU to ready.
 */
export function callerOf(depth: number): string {
  const limit = Error.stackTraceLimit;
  const prepare = Error.prepareStackTrace;
  Error.stackTraceLimit = depth + 1;
  Error.prepareStackTrace = callSites;
  const holder: { stack?: NodeJS.CallSite[] } = {};
  try {
    Error.captureStackTrace(holder, callerOf);
    const sites = holder.stack;
    const site = sites?.[depth] ?? sites?.at(-1);
    const file = site?.getFileName();
    const line = site?.getLineNumber();
    return file == null || line == null ? '???:1' : `${baseName(file)}:${line}`;
  } finally {
    Error.stackTraceLimit = limit;
    Error.prepareStackTrace = prepare;
  }
}

function callSites(_e: Error, sites: NodeJS.CallSite[]): NodeJS.CallSite[] {
  return sites;
}

/** The last path segment of a file name or file: URL, remembered per name (a few dozen modules). */
const baseNames = new Map<string, string>();
function baseName(file: string): string {
  let b = baseNames.get(file);
  if (b === undefined) {
    b = file.slice(Math.max(file.lastIndexOf('/'), file.lastIndexOf('\\')) + 1);
    baseNames.set(file, b);
  }
  return b;
}
