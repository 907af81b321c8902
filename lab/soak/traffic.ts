/**
 * The soak's traffic: a continuous all-pairs ping matrix (one `ping -i 0.1` per ordered pod pair,
 * 10 echoes a second) whose every lost echo is time-stamped, so each loss can be charged to the
 * fault that was active when it was sent; and one long TCP stream (iperf3) whose seconds without
 * progress are counted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface PingEndpoint {
  readonly name: string;
  readonly netns: string;
  readonly ip: string;
}

/** One echo that never came back: when it was sent (about), from which pair. */
export interface Loss {
  readonly t: number;
  readonly pair: string;
}

/** How long an echo may take before it counts as lost (ping's own -W is per-run, not per-echo). */
const SETTLE_MS = 3000;
const INTERVAL_MS = 100;

/**
 * The bookkeeping of one ping process: which sequence numbers were sent (seen in any line) and
 * which were answered. Pure, so it can be tested with recorded output.
 */
export class PingLedger {
  readonly pair: string;
  private readonly firstSeen = new Map<number, number>();
  private readonly received = new Set<number>();
  private maxSeq = 0;
  private settledUpTo = 0;
  /** When the last settled echo was sent: the time of an echo ping never mentioned. */
  private lastTime = 0;
  transmitted = 0;
  answered = 0;
  private readonly onLoss: (l: Loss) => void;

  constructor(pair: string, onLoss: (l: Loss) => void) {
    this.pair = pair;
    this.onLoss = onLoss;
  }

  /** Feeds one line of `ping -n -O` output, read at time `now`. */
  line(text: string, now: number): void {
    let m = /icmp_seq=(\d+) ttl=\d+ time=/.exec(text);
    if (m !== null) {
      if (text.includes('DUP!')) return;
      const seq = Number(m[1]);
      this.see(seq, now);
      if (seq > this.settledUpTo && !this.received.has(seq)) this.received.add(seq);
      return;
    }
    m = /no answer yet for icmp_seq=(\d+)/.exec(text) ?? /icmp_seq=(\d+)/.exec(text);
    if (m !== null) {
      this.see(Number(m[1]), now);
      return;
    }
    // A send that failed (no route, device gone): ping does not consume a sequence number for it.
    if (/sendmsg|sendto/.test(text)) {
      this.transmitted++;
      this.onLoss({ t: now, pair: this.pair });
    }
  }

  private see(seq: number, now: number): void {
    if (seq <= this.settledUpTo) return;
    if (!this.firstSeen.has(seq)) this.firstSeen.set(seq, now);
    if (seq > this.maxSeq) this.maxSeq = seq;
  }

  /**
   * Decides the fate of every echo old enough (all of them when `all`): answered or lost. An echo
   * never mentioned at all (ping prints nothing for it when it is overtaken) gets the time of its
   * nearest mentioned neighbour.
   */
  settle(now: number, all = false): void {
    const upTo = all ? this.maxSeq : this.maxSeq - Math.ceil(SETTLE_MS / INTERVAL_MS);
    for (let seq = this.settledUpTo + 1; seq <= upTo; seq++) {
      const t = this.firstSeen.get(seq);
      if (!all && t !== undefined && now - t < SETTLE_MS) return;
      if (t !== undefined) this.lastTime = t;
      else if (this.lastTime === 0) this.lastTime = now;
      this.transmitted++;
      if (this.received.has(seq)) this.answered++;
      else this.onLoss({ t: t ?? this.lastTime, pair: this.pair });
      this.firstSeen.delete(seq);
      this.received.delete(seq);
      this.settledUpTo = seq;
    }
  }
}

export interface PingMatrixStats {
  readonly pairs: number;
  readonly transmitted: number;
  readonly answered: number;
  readonly lost: number;
  /** ping processes that ended on their own and were started again. */
  readonly restarts: number;
}

export class PingMatrix {
  readonly losses: Loss[] = [];
  private readonly procs = new Map<string, ChildProcess>();
  private readonly ledgers: PingLedger[] = [];
  private timer: NodeJS.Timeout | undefined;
  private stopping = false;
  private restarts = 0;
  private readonly endpoints: readonly PingEndpoint[];

  constructor(endpoints: readonly PingEndpoint[]) {
    this.endpoints = endpoints;
  }

  start(): void {
    for (const a of this.endpoints) for (const b of this.endpoints) if (a !== b) this.startPair(a, b);
    this.timer = setInterval(() => {
      const now = Date.now();
      for (const l of this.ledgers) l.settle(now);
    }, 1000);
  }

  private startPair(a: PingEndpoint, b: PingEndpoint): void {
    const pair = `${a.name} -> ${b.name}`;
    const ledger = new PingLedger(pair, (l) => this.losses.push(l));
    this.ledgers.push(ledger);
    const child = spawn('ip', ['netns', 'exec', a.netns, 'ping', '-n', '-O', '-i', String(INTERVAL_MS / 1000), b.ip], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.procs.set(pair, child);
    const feed = (line: string): void => ledger.line(line, Date.now());
    createInterface({ input: child.stdout!, crlfDelay: Infinity }).on('line', feed);
    createInterface({ input: child.stderr!, crlfDelay: Infinity }).on('line', feed);
    child.on('exit', () => {
      ledger.settle(Date.now(), true);
      this.procs.delete(pair);
      if (this.stopping) return;
      // ping gives up at start when there is no route at that moment; the matrix keeps every pair.
      this.restarts++;
      setTimeout(() => {
        if (!this.stopping) this.startPair(a, b);
      }, 500).unref();
    });
  }

  /** Losses sent in [from, to). */
  lostBetween(from: number, to: number): number {
    let n = 0;
    for (const l of this.losses) if (l.t >= from && l.t < to) n++;
    return n;
  }

  stats(): PingMatrixStats {
    let transmitted = 0;
    let answered = 0;
    for (const l of this.ledgers) {
      transmitted += l.transmitted;
      answered += l.answered;
    }
    return { pairs: this.endpoints.length * (this.endpoints.length - 1), transmitted, answered, lost: this.losses.length, restarts: this.restarts };
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    const exits = [...this.procs.values()].map((c) => new Promise<void>((resolve) => c.once('exit', () => resolve())));
    for (const c of this.procs.values()) c.kill('SIGINT');
    await Promise.race([Promise.all(exits), new Promise((r) => setTimeout(r, 5000))]);
    for (const c of this.procs.values()) c.kill('SIGKILL');
  }
}

export interface TcpStreamStats {
  readonly seconds: number;
  readonly megabytes: number;
  /** One-second intervals in which nothing got through. */
  readonly stalledSeconds: number;
  readonly longestStallSeconds: number;
  /** Why the stream ended early, if it did. */
  readonly broke?: string;
}

/** One iperf3 TCP stream at a modest fixed rate from `from` to `to` for the whole soak. */
export class TcpStream {
  private server: ChildProcess | undefined;
  private client: ChildProcess | undefined;
  private seconds = 0;
  private bytes = 0;
  private stalled = 0;
  private run = 0;
  private longest = 0;
  private broke: string | undefined;
  private stopping = false;
  private readonly tail: string[] = [];

  async start(from: PingEndpoint, to: PingEndpoint, durationS: number, rate = '10M'): Promise<void> {
    this.server = spawn('ip', ['netns', 'exec', to.netns, 'iperf3', '-s', '-1', '-p', '5201'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 500));
    const client = spawn(
      'ip',
      ['netns', 'exec', from.netns, 'iperf3', '-c', to.ip, '-p', '5201', '-t', String(Math.ceil(durationS) + 600), '-b', rate, '-i', '1', '--forceflush'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.client = client;
    const onLine = (line: string): void => {
      this.tail.push(line);
      if (this.tail.length > 10) this.tail.shift();
      const m = /\]\s+[\d.]+-[\d.]+\s+sec\s+([\d.]+)\s+(\w?)Bytes\s+([\d.]+)\s+\w?bits\/sec\s+\d+/.exec(line);
      if (m === null) return;
      const unit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2]!] ?? 1;
      const b = Number(m[1]) * unit;
      this.seconds++;
      this.bytes += b;
      if (b === 0) {
        this.stalled++;
        this.run++;
        this.longest = Math.max(this.longest, this.run);
      } else {
        this.run = 0;
      }
    };
    createInterface({ input: client.stdout!, crlfDelay: Infinity }).on('line', onLine);
    createInterface({ input: client.stderr!, crlfDelay: Infinity }).on('line', onLine);
    client.on('exit', (code, signal) => {
      if (!this.stopping) this.broke = `iperf3 exited (${code ?? signal}) after ${this.seconds} s: ${this.tail.slice(-3).join(' | ')}`;
    });
  }

  stats(): TcpStreamStats {
    return {
      seconds: this.seconds,
      megabytes: this.bytes / 1024 ** 2,
      stalledSeconds: this.stalled,
      longestStallSeconds: this.longest,
      ...(this.broke !== undefined ? { broke: this.broke } : {}),
    };
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const c of [this.client, this.server]) {
      if (c === undefined || c.exitCode !== null || c.signalCode !== null) continue;
      const gone = new Promise<void>((resolve) => c.once('exit', () => resolve()));
      c.kill('SIGINT');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 3000))]);
      c.kill('SIGKILL');
    }
  }
}
