/**
 * Waiting for a child process to print a line: the benches start the API double and the daemon
 * and go on once they say they are listening or ready. A failure carries the child's last output.
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
