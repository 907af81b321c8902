import { writeSync } from 'node:fs';
import { Writable } from 'node:stream';

/**
 * The daemon's last log lines, kept in memory for /debug/state (and so for `flanneld doctor
 * --bundle`): in a DaemonSet the container log is on the kubelet's side, out of reach of a
 * command run inside the pod. A fixed ring of lines; the oldest falls out.
 */
export class LogRing {
  readonly capacity: number;
  private readonly lines: string[];
  private next = 0;
  private count = 0;

  constructor(capacity = 200) {
    this.capacity = capacity;
    this.lines = new Array<string>(capacity);
  }

  push(line: string): void {
    this.lines[this.next] = line.endsWith('\n') ? line.slice(0, -1) : line;
    this.next = (this.next + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
  }

  /** Oldest first. */
  tail(): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.count; i++) out.push(this.lines[(this.next - this.count + i + this.capacity) % this.capacity]!);
    return out;
  }

  /**
   * A stream for the logger that writes each line to `fd` synchronously (as pino's own sync
   * destination does, so nothing is lost on exit) and keeps it here.
   */
  tee(fd: number): NodeJS.WritableStream {
    return new Writable({
      decodeStrings: false,
      write: (chunk: string | Buffer, _enc, done) => {
        const text = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
        try {
          writeSync(fd, text);
        } catch {
          // A closed stderr must not take the daemon down; the ring still has the line.
        }
        for (const line of text.split('\n')) if (line !== '') this.push(line);
        done();
      },
    });
  }
}
