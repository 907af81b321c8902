/**
 * The benches' child processes (the API double, the daemon): waiting for one to print a line
 * (they go on once it says it is listening or ready; a failure carries its last output), and
 * stopping one.
 */
import type { ChildProcess } from 'node:child_process';

/** Resolves with the first line of `stream` matching `re`; rejects on timeout or exit. */
export function waitForLine(child: ChildProcess, stream: 'stdout' | 'stderr', re: RegExp, timeoutMs: number): Promise<string> {
  const out = child[stream]!;
  const log: string[] = [];
  return new Promise((resolveLine, reject) => {
    let buf = '';
    const timer = setTimeout(() => fail(new Error(`no line matching ${re} within ${timeoutMs} ms`)), timeoutMs);
    const onData = (b: Buffer): void => {
      const text = b.toString();
      log.push(text);
      if (log.length > 200) log.shift();
      buf += text;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (re.test(line)) {
          done();
          // Keep draining, so a chatty child never blocks on a full pipe.
          out.on('data', () => undefined);
          resolveLine(line);
          return;
        }
      }
    };
    const onExit = (code: number | null, sig: string | null): void => fail(new Error(`exited (${code ?? sig}) before a line matching ${re}`));
    const done = (): void => {
      clearTimeout(timer);
      out.off('data', onData);
      child.off('exit', onExit);
    };
    function fail(e: Error): void {
      done();
      reject(new Error(`${e.message}:\n${log.join('').slice(-3000)}`));
    }
    out.on('data', onData);
    child.once('exit', onExit);
  });
}

/** SIGTERM, SIGKILL after 5 s; resolves once the child has exited (at once if it had). */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}
