/**
 * The soak's fault catalogue. Each fault injects one thing, waits for the repair through the
 * environment's `converge` (the invariant checker) and undoes whatever the daemon is not meant
 * to undo itself, returning one repair time per phase (ms), or undefined for a phase that did
 * not converge within its deadline (the environment has recorded that violation).
 *
 * When a repair time starts: kernel faults at the injection (underlay-down: when the link is
 * back up); process faults when the daemon runs again (SIGCONT, restart); API faults when the API
 * is back, measured as the time until a Node created at that moment is programmed on every node;
 * annotation and config faults at each write (the change, then the restore).
 */
import type { LabNode } from '../lab.ts';
import type { Backend } from './checker.ts';
import { A_DATA, A_KSM, A_PUBLIC_IP, A_TYPE, POD_NETWORK, publishedType } from './checker.ts';
import type { UnderlayHttp } from './http.ts';
import type { Rng } from './rng.ts';

export type FaultCategory = 'kernel' | 'process' | 'api' | 'config';

export interface FaultTimings {
  /** API stopped / blackholed (the issue's 60 s). */
  readonly apiOutageMs: number;
  /** A daemon stopped with SIGSTOP (the issue's 20 s). */
  readonly sigstopMs: number;
  /** The underlay link down (the issue's 2 s). */
  readonly underlayDownMs: number;
  /** Nodes added and deleted by the churn fault (the issue's 100 at 20/s). */
  readonly churnNodes: number;
  readonly churnPerSecond: number;
}

/** What the soak knows and may change about one node; the checker reads it. */
export interface NodeModel {
  backend: Backend;
  publicIp: string;
  keptRoutes: string[];
  /** Own annotations overwritten on purpose (see CheckedNode). */
  annotationOverrides: Record<string, string>;
}

export interface ConvergeOptions {
  /** Default: the environment's deadline for the fault's category. */
  readonly deadlineMs?: number;
  /** Nodes whose /readyz must answer 200 too. */
  readonly ready?: readonly number[];
}

export interface FaultEnv {
  readonly rng: Rng;
  readonly http: UnderlayHttp;
  readonly timings: FaultTimings;
  readonly backend: Backend;
  readonly nodeCount: number;
  readonly model: NodeModel[];
  node(i: number): LabNode;
  /** Polls the invariants until they hold; ms since t0, or undefined after the deadline (violation recorded). */
  converge(t0: number, phase: string, opts?: ConvergeOptions): Promise<number | undefined>;
  /** Records an invariant violation of the current fault. */
  violation(text: string): void;
  note(text: string): void;
  /** Runs a command in a node's namespace; failures throw with the command's stderr. */
  exec(i: number, argv: readonly string[]): Promise<string>;
  execUnderlay(argv: readonly string[]): Promise<string>;
  /** Daemon control that the exit monitor knows about (an exit caused here is not unexpected). */
  killDaemon(i: number, signal: 'SIGKILL' | 'SIGTERM'): Promise<void>;
  startDaemon(i: number): Promise<void>;
  pauseDaemon(i: number): void;
  continueDaemon(i: number): void;
  stopApiServer(): Promise<void>;
  startApiServer(): Promise<void>;
  /** Writes every node's net-conf.json, as the kubelet does when the ConfigMap changes. */
  writeNetConf(text: string): void;
  netConfOf(backend: Backend): string;
  sleep(ms: number): Promise<void>;
}

export interface Fault {
  readonly kind: string;
  readonly category: FaultCategory;
  /** One line for the table. */
  readonly title: string;
  applies(b: Backend): boolean;
  /** Whether pings may be lost: the fault takes the data path away for a while by design. */
  cutsPath(b: Backend): boolean;
  /**
   * Holds the lab for tens of seconds (an API outage, a SIGSTOP): drawn RARE_WEIGHT as often as
   * the others, so that a 30-minute run has ≥ 300 faults and still each of these several times.
   */
  readonly long?: true;
  run(env: FaultEnv): Promise<(number | undefined)[]>;
}

/** How often a `long` fault is drawn relative to the others. */
export const RARE_WEIGHT = 0.25;

const VXLAN_ONLY = (b: Backend): boolean => b === 'vxlan';
const WITH_DEVICE = (b: Backend): boolean => b !== 'host-gw';
const ALWAYS = (): boolean => true;
const NEVER = (): boolean => false;
const UDP_ONLY = (b: Backend): boolean => b === 'udp';

/** The net-conf.json the soak writes for a backend switch: host-gw for vxlan and udp labs, vxlan for host-gw. */
export function switchTarget(b: Backend): Backend {
  return b === 'host-gw' ? 'vxlan' : 'host-gw';
}

/** Node i's second underlay address (added at set-up), for the public-ip change. */
export function secondaryIp(i: number): string {
  return `198.18.0.${110 + i}`;
}

function netAddr(cidr: string): string {
  return cidr.split('/')[0]!;
}

function otherNode(env: FaultEnv, i: number): number {
  const j = env.rng.int(0, env.nodeCount - 2);
  return j >= i ? j + 1 : j;
}

function targetNode(env: FaultEnv): number {
  return env.rng.int(0, env.nodeCount - 1);
}

/**
 * The daemon a process fault hits: never node0's (with 3 nodes or more), so one daemon lives
 * through the whole run and its RSS over time says whether memory leaks.
 */
function processTarget(env: FaultEnv): number {
  return env.nodeCount >= 3 ? env.rng.int(1, env.nodeCount - 1) : targetNode(env);
}

function device(b: Backend): string {
  return b === 'udp' ? 'flannel0' : 'flannel.1';
}

/** The current VtepMAC node j announces (read from its Node object). */
async function annotationsOf(env: FaultEnv, name: string): Promise<Record<string, string>> {
  const r = await env.http.api('GET', `/api/v1/nodes/${name}`, undefined, { expect: 200 });
  return ((JSON.parse(r.body) as { metadata: { annotations?: Record<string, string> } }).metadata.annotations ?? {});
}

async function patchAnnotations(env: FaultEnv, name: string, annotations: Record<string, string | null>): Promise<void> {
  await env.http.api('PATCH', `/api/v1/nodes/${name}`, { metadata: { annotations } }, { contentType: 'application/merge-patch+json', expect: 200 });
}

// ---- kernel ----

const routeDeleted: Fault = {
  kind: 'route-deleted', category: 'kernel', title: "a peer's route deleted",
  applies: ALWAYS, cutsPath: ALWAYS,
  async run(env) {
    const i = targetNode(env);
    if (env.backend === 'udp') {
      env.note(`node${i}: ip route del ${POD_NETWORK} dev flannel0`);
      await env.exec(i, ['ip', 'route', 'del', POD_NETWORK, 'dev', 'flannel0']);
    } else {
      const j = otherNode(env, i);
      const dst = env.node(j).podCidr;
      env.note(`node${i}: ip route del ${dst}`);
      await env.exec(i, ['ip', 'route', 'del', dst]);
    }
    return [await env.converge(Date.now(), 'repair')];
  },
};

const neighDeleted: Fault = {
  kind: 'neigh-deleted', category: 'kernel', title: "a peer's neighbour deleted",
  applies: VXLAN_ONLY, cutsPath: NEVER,
  async run(env) {
    const i = targetNode(env);
    const j = otherNode(env, i);
    const ip = netAddr(env.node(j).podCidr);
    env.note(`node${i}: ip neigh del ${ip} dev flannel.1`);
    await env.exec(i, ['ip', 'neigh', 'del', ip, 'dev', 'flannel.1']);
    return [await env.converge(Date.now(), 'repair')];
  },
};

const fdbDeleted: Fault = {
  kind: 'fdb-deleted', category: 'kernel', title: "a peer's FDB entry deleted",
  applies: VXLAN_ONLY, cutsPath: ALWAYS,
  async run(env) {
    const i = targetNode(env);
    const j = otherNode(env, i);
    const mac = (await env.exec(j, ['cat', '/sys/class/net/flannel.1/address'])).trim();
    const dst = env.model[j]!.publicIp;
    env.note(`node${i}: bridge fdb del ${mac} dev flannel.1 dst ${dst}`);
    await env.exec(i, ['bridge', 'fdb', 'del', mac, 'dev', 'flannel.1', 'dst', dst, 'self']);
    return [await env.converge(Date.now(), 'repair')];
  },
};

/**
 * Not in the issue's list, but the nastier form of drift: an entry rewritten in place (no
 * deletion is announced), which blackholes a peer until it is noticed.
 */
const entryChanged: Fault = {
  kind: 'entry-changed', category: 'kernel', title: "a peer's entry rewritten in place",
  applies: ALWAYS, cutsPath: ALWAYS,
  async run(env) {
    const i = targetNode(env);
    let argv: string[];
    if (env.backend === 'vxlan') {
      const j = otherNode(env, i);
      argv = ['ip', 'neigh', 'replace', netAddr(env.node(j).podCidr), 'lladdr', env.rng.mac(), 'dev', 'flannel.1', 'nud', 'permanent'];
    } else if (env.backend === 'host-gw') {
      const j = otherNode(env, i);
      argv = ['ip', 'route', 'replace', env.node(j).podCidr, 'via', '198.18.0.250', 'dev', 'eth0'];
    } else {
      argv = ['ip', 'route', 'replace', POD_NETWORK, 'dev', 'eth0'];
    }
    env.note(`node${i}: ${argv.join(' ')}`);
    await env.exec(i, argv);
    return [await env.converge(Date.now(), 'repair')];
  },
};

const deviceDeleted: Fault = {
  kind: 'device-deleted', category: 'kernel', title: 'flannel.1 / flannel0 deleted',
  applies: WITH_DEVICE, cutsPath: ALWAYS,
  async run(env) {
    const i = targetNode(env);
    env.note(`node${i}: ip link del ${device(env.backend)}`);
    await env.exec(i, ['ip', 'link', 'del', device(env.backend)]);
    return [await env.converge(Date.now(), 'repair')];
  },
};

const underlayDown: Fault = {
  kind: 'underlay-down', category: 'kernel', title: 'underlay link down, up',
  applies: ALWAYS, cutsPath: ALWAYS,
  async run(env) {
    const i = targetNode(env);
    env.note(`node${i}: eth0 down for ${env.timings.underlayDownMs} ms`);
    await env.exec(i, ['ip', 'link', 'set', 'eth0', 'down']);
    await env.sleep(env.timings.underlayDownMs);
    await env.exec(i, ['ip', 'link', 'set', 'eth0', 'up']);
    return [await env.converge(Date.now(), 'repair')];
  },
};

/**
 * Cuts the path: the device's address is its only IPv4 address, and when the last one goes the
 * kernel flushes every route through the device (fib_disable_ip in net/ipv4/fib_frontend.c),
 * so peers are unreachable until the routes are put back.
 */
const addressRemoved: Fault = {
  kind: 'address-removed', category: 'kernel', title: "the device's address removed",
  applies: WITH_DEVICE, cutsPath: ALWAYS,
  async run(env) {
    const i = targetNode(env);
    const addr = `${netAddr(env.node(i).podCidr)}/32`;
    env.note(`node${i}: ip addr del ${addr} dev ${device(env.backend)}`);
    await env.exec(i, ['ip', 'addr', 'del', addr, 'dev', device(env.backend)]);
    return [await env.converge(Date.now(), 'repair')];
  },
};

const FOREIGN = '10.244.250.0/24';
const KEPT = '10.244.251.0/24';

/**
 * A route inside the pod network that flannel did not make. Where flannel owns the device
 * (flannel.1; eth0 routes into the pod network for host-gw) it is a stale entry and must go;
 * on a device that is not flannel's it is someone else's and must stay.
 */
const foreignRoute: Fault = {
  kind: 'foreign-route', category: 'kernel', title: 'a foreign route in the pod network',
  applies: ALWAYS, cutsPath: NEVER,
  async run(env) {
    const i = targetNode(env);
    const owned = env.backend !== 'udp' && env.rng.int(0, 1) === 0;
    if (owned) {
      const argv = env.backend === 'vxlan'
        ? ['ip', 'route', 'add', FOREIGN, 'via', netAddr(FOREIGN), 'dev', 'flannel.1', 'onlink']
        : ['ip', 'route', 'add', FOREIGN, 'via', '198.18.0.250', 'dev', 'eth0'];
      env.note(`node${i}: ${argv.join(' ')} (flannel's device: must be removed)`);
      await env.exec(i, argv);
      return [await env.converge(Date.now(), 'repair')];
    }
    env.note(`node${i}: ip route add ${KEPT} dev soak0 (not flannel's device: must be kept)`);
    // A bridge, because the dummy module is not loaded everywhere.
    await env.exec(i, ['ip', 'link', 'add', 'soak0', 'type', 'bridge']);
    await env.exec(i, ['ip', 'link', 'set', 'soak0', 'up']);
    await env.exec(i, ['ip', 'route', 'add', KEPT, 'dev', 'soak0']);
    const t0 = Date.now();
    env.model[i]!.keptRoutes = [`${KEPT} dev soak0 scope link`];
    try {
      const first = await env.converge(t0, 'kept');
      // A reconcile runs on a timer too; the route must survive at least one more.
      await env.sleep(1500);
      const second = await env.converge(Date.now(), 'still kept', { deadlineMs: 1 });
      return [first === undefined || second === undefined ? undefined : first];
    } finally {
      env.model[i]!.keptRoutes = [];
      await env.exec(i, ['ip', 'link', 'del', 'soak0']);
    }
  },
};

// ---- process ----

const sigkill: Fault = {
  kind: 'sigkill', category: 'process', title: 'daemon SIGKILL + restart',
  applies: ALWAYS, cutsPath: UDP_ONLY,
  async run(env) {
    const i = processTarget(env);
    env.note(`node${i}: SIGKILL, restart`);
    await env.killDaemon(i, 'SIGKILL');
    const t0 = Date.now();
    await env.startDaemon(i);
    return [await env.converge(t0, 'restart', { ready: [i] })];
  },
};

const sigterm: Fault = {
  kind: 'sigterm', category: 'process', title: 'daemon SIGTERM + restart',
  // The udp daemon is the data path: between its exit and the restart nothing forwards.
  applies: ALWAYS, cutsPath: UDP_ONLY,
  async run(env) {
    const i = processTarget(env);
    env.note(`node${i}: SIGTERM, restart`);
    await env.killDaemon(i, 'SIGTERM');
    const t0 = Date.now();
    await env.startDaemon(i);
    return [await env.converge(t0, 'restart', { ready: [i] })];
  },
};

const sigstop: Fault = {
  kind: 'sigstop', category: 'process', title: 'daemon SIGSTOP, SIGCONT',
  applies: ALWAYS, cutsPath: UDP_ONLY, long: true,
  async run(env) {
    const i = processTarget(env);
    env.note(`node${i}: SIGSTOP for ${env.timings.sigstopMs} ms`);
    env.pauseDaemon(i);
    try {
      await env.sleep(env.timings.sigstopMs);
    } finally {
      env.continueDaemon(i);
    }
    return [await env.converge(Date.now(), 'continued', { ready: [i] })];
  },
};

// ---- API ----

/**
 * After an API fault: a Node created now must be programmed everywhere (the watch works again),
 * then deleted again. The repair time is the first phase's.
 */
async function probe(env: FaultEnv, t0: number): Promise<(number | undefined)[]> {
  const name = `soak-probe-${env.rng.int(0, 1e9)}`;
  await env.http.api('POST', '/api/v1/nodes', fakeNode(env, name, '10.244.252.0/24', '198.18.0.252'), { expect: 201 });
  const added = await env.converge(t0, 'probe added');
  await env.http.api('DELETE', `/api/v1/nodes/${name}`, undefined, { expect: 200 });
  const removed = await env.converge(Date.now(), 'probe removed');
  return [added, removed === undefined ? undefined : 0];
}

/** A Node object that looks like a flannel node of the lab's backend (no daemon behind it). */
export function fakeNode(env: FaultEnv, name: string, podCidr: string, publicIp: string): object {
  const data = env.backend === 'vxlan' ? JSON.stringify({ VNI: 1, VtepMAC: env.rng.mac() }) : 'null';
  return {
    metadata: {
      name,
      annotations: { [A_KSM]: 'true', [A_TYPE]: publishedType(env.backend), [A_DATA]: data, [A_PUBLIC_IP]: publicIp },
    },
    spec: { podCIDR: podCidr, podCIDRs: [podCidr] },
  };
}

const apiStop: Fault = {
  kind: 'api-stop', category: 'api', title: 'API server stopped, started',
  applies: ALWAYS, cutsPath: NEVER, long: true,
  async run(env) {
    env.note(`API server stopped for ${env.timings.apiOutageMs} ms`);
    await env.stopApiServer();
    try {
      await env.sleep(env.timings.apiOutageMs);
    } finally {
      await env.startApiServer();
    }
    return probe(env, Date.now());
  },
};

const BLACKHOLE = [
  ['INPUT', '-i', 'br0', '-p', 'tcp', '--dport', '6443', '-j', 'DROP'],
  ['OUTPUT', '-o', 'br0', '-p', 'tcp', '--sport', '6443', '-j', 'DROP'],
];

const apiBlackhole: Fault = {
  kind: 'api-blackhole', category: 'api', title: 'API connections blackholed (DROP)',
  applies: ALWAYS, cutsPath: NEVER, long: true,
  async run(env) {
    env.note(`API blackholed (iptables DROP, no reset) for ${env.timings.apiOutageMs} ms`);
    for (const r of BLACKHOLE) await env.execUnderlay(['iptables', '-I', ...r]);
    try {
      await env.sleep(env.timings.apiOutageMs);
    } finally {
      for (const r of BLACKHOLE) await env.execUnderlay(['iptables', '-D', ...r]);
    }
    return probe(env, Date.now());
  },
};

const watchCut: Fault = {
  kind: 'watch-cut', category: 'api', title: 'watch connections cut',
  applies: ALWAYS, cutsPath: NEVER,
  async run(env) {
    env.note('API: every watch connection cut');
    await env.http.api('POST', '/lab/drop-watches', undefined, { expect: 200 });
    return probe(env, Date.now());
  },
};

const forced410: Fault = {
  kind: 'forced-410', category: 'api', title: '410 Gone forced (compaction)',
  applies: ALWAYS, cutsPath: NEVER,
  async run(env) {
    env.note('API: compaction, every watch resumes into 410 Gone');
    await env.http.api('POST', '/lab/compact', undefined, { expect: 200 });
    return probe(env, Date.now());
  },
};

const churn: Fault = {
  kind: 'node-churn', category: 'api', title: 'node churn: added, deleted',
  applies: ALWAYS, cutsPath: NEVER,
  async run(env) {
    const { churnNodes: n, churnPerSecond: rate } = env.timings;
    const names = Array.from({ length: n }, (_, k) => `soak-churn-${k}`);
    env.note(`API: ${n} nodes added at ${rate}/s, then deleted`);
    const paced = async (f: (k: number) => Promise<unknown>): Promise<void> => {
      const start = Date.now();
      const pending: Promise<unknown>[] = [];
      for (let k = 0; k < n; k++) {
        const due = start + (k * 1000) / rate;
        if (due > Date.now()) await env.sleep(due - Date.now());
        pending.push(f(k));
      }
      await Promise.all(pending);
    };
    await paced((k) => env.http.api('POST', '/api/v1/nodes', fakeNode(env, names[k]!, `10.244.${101 + (k % 100)}.0/24`, `198.18.0.${150 + (k % 100)}`), { expect: 201 }));
    const added = await env.converge(Date.now(), `${n} added`);
    await paced((k) => env.http.api('DELETE', `/api/v1/nodes/${names[k]}`, undefined, { expect: 200 }));
    const deleted = await env.converge(Date.now(), `${n} deleted`);
    return [added, deleted];
  },
};

const malformed: Fault = {
  kind: 'annotations-malformed', category: 'api', title: "a peer's annotations malformed, restored",
  applies: ALWAYS, cutsPath: NEVER,
  async run(env) {
    const j = targetNode(env);
    const name = env.node(j).name;
    const before = await annotationsOf(env, name);
    const key = env.rng.int(0, 1) === 0 ? A_DATA : A_PUBLIC_IP;
    const bad = key === A_DATA ? '{"VNI":1,"VtepMAC":' : '198.18.0.999';
    env.note(`node${j}: ${key} := ${JSON.stringify(bad)} (peers must keep its last valid lease)`);
    env.model[j]!.annotationOverrides = { [key]: bad };
    await patchAnnotations(env, name, { [key]: bad });
    // The checker keeps the last valid lease, and so must every daemon: nothing may change.
    await env.sleep(1500);
    const held = await env.converge(Date.now(), 'malformed, kept', { deadlineMs: 1 });
    env.model[j]!.annotationOverrides = {};
    await patchAnnotations(env, name, { [key]: before[key] ?? null });
    const restored = await env.converge(Date.now(), 'restored');
    return [held === undefined ? undefined : 0, restored];
  },
};

const publicIpChanged: Fault = {
  kind: 'public-ip-changed', category: 'api', title: "a peer's public-ip changed, restored",
  // Its second underlay address works for vxlan and host-gw; the udp backend accepts datagrams
  // only from a peer's announced address and sends from its primary one, so that path is cut.
  applies: ALWAYS, cutsPath: UDP_ONLY,
  async run(env) {
    const j = targetNode(env);
    const name = env.node(j).name;
    const original = env.model[j]!.publicIp;
    const next = secondaryIp(j);
    env.note(`node${j}: public-ip ${original} → ${next}`);
    env.model[j]!.publicIp = next;
    await patchAnnotations(env, name, { [A_PUBLIC_IP]: next });
    const changed = await env.converge(Date.now(), 'changed');
    env.model[j]!.publicIp = original;
    await patchAnnotations(env, name, { [A_PUBLIC_IP]: original });
    const restored = await env.converge(Date.now(), 'restored');
    return [changed, restored];
  },
};

// ---- config ----

const netconfInvalid: Fault = {
  kind: 'netconf-invalid', category: 'config', title: 'net-conf.json invalid, restored',
  applies: ALWAYS, cutsPath: NEVER,
  async run(env) {
    const good = env.netConfOf(env.backend);
    const bad = env.rng.int(0, 1) === 0 ? good.slice(0, Math.floor(good.length / 2)) : good.replace(`"Type": "${env.backend}"`, '"Type": "no-such-backend"');
    env.note(`net-conf.json made invalid on every node: ${JSON.stringify(bad.slice(0, 80))}`);
    env.writeNetConf(bad);
    // Every daemon must notice and say so, and keep the running config.
    const nodes = Array.from({ length: env.nodeCount }, (_, i) => i);
    const t0 = Date.now();
    for (;;) {
      const answers = await Promise.all(nodes.map((i) => env.http.request('GET', `http://${env.node(i).underlayIp}:8081/readyz`, undefined, { timeoutMs: 2000 }).catch(() => undefined)));
      if (answers.every((a) => a?.status === 503 && a.body.includes('net-conf.json'))) break;
      if (Date.now() - t0 > 15_000) {
        env.violation(`not every daemon reported the invalid net-conf.json within 15 s: ${answers.map((a, i) => `node${i}: ${a?.status ?? '-'} ${a?.body ?? ''}`).join('; ')}`);
        break;
      }
      await env.sleep(200);
    }
    const held = await env.converge(Date.now(), 'invalid, kept', { deadlineMs: 1 });
    env.writeNetConf(good);
    const restored = await env.converge(Date.now(), 'restored', { ready: nodes });
    return [held === undefined ? undefined : 0, restored];
  },
};

const backendSwitch: Fault = {
  kind: 'backend-switch', category: 'config', title: 'backend switch and back',
  // Hitless: every peer is reached the way it advertises while nodes switch (docs/migration.md).
  applies: ALWAYS, cutsPath: NEVER,
  async run(env) {
    const other = switchTarget(env.backend);
    const times: (number | undefined)[] = [];
    for (const b of [other, env.backend]) {
      env.note(`net-conf.json: Backend ${b} on every node`);
      for (const m of env.model) m.backend = b;
      env.writeNetConf(env.netConfOf(b));
      times.push(await env.converge(Date.now(), `switched to ${b}`));
    }
    return times;
  },
};

export const FAULTS: readonly Fault[] = [
  routeDeleted, neighDeleted, fdbDeleted, entryChanged, deviceDeleted, underlayDown, addressRemoved, foreignRoute,
  sigkill, sigterm, sigstop,
  apiStop, apiBlackhole, watchCut, forced410, churn, malformed, publicIpChanged,
  netconfInvalid, backendSwitch,
];
