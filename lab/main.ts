/**
 * flannel-lab: builds the multi-node lab on this machine and leaves it running.
 *   flannel-lab up [--nodes 3] [--backend vxlan|host-gw|udp] [--direct-routing] [--pods-per-node 1]
 *                  [--ip-family ipv4|dual|ipv6] [--kubeconfig FILE] [--subnet-mgr kube|etcd] [--prefix flab] [--no-daemon]
 *   flannel-lab status
 *   flannel-lab doctor NODE [--prefix flab] [flanneld doctor flags]
 *   flannel-lab down [--prefix flab]
 * Test tooling: drives `ip netns` and the CNI reference plugins on purpose.
 */
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { doctorArgv } from './doctor.ts';
import { createLab, formatConnectivity, Lab } from './lab.ts';
import { listNetns } from './harness/netns.ts';
import { preflightProblems } from './preflight.ts';
import { isAlive } from './processes.ts';
import { loadState, savedLabs, stateFile, type BackendType, type IpFamilyMode } from './state.ts';
import { teardown } from './teardown.ts';
import { errorText } from '../src/util/errors.ts';

const USAGE = `usage:
  flannel-lab up [--nodes N] [--backend vxlan|host-gw|udp[,…]] [--direct-routing] [--pods-per-node N]
                 [--ip-family ipv4|dual|ipv6] [--kubeconfig FILE] [--subnet-mgr kube|etcd] [--prefix NAME] [--no-daemon]
  flannel-lab status
  flannel-lab doctor NODE [--prefix NAME] [--json] [--bundle FILE] [--no-probe] ...
  flannel-lab down [--prefix NAME]

up builds an underlay, N node namespaces each running flanneld (flannel-ts) against a Kubernetes
API server double (or the real server of --kubeconfig), pods attached by the CNI reference plugins,
prints them and a ping matrix, and leaves everything running until 'down'. Needs root.
--ip-family dual adds an IPv6 underlay (fd00:198:18::/64) and IPv6Network fd00:10:244::/56 with a
/64 per node, so pods get both families; ipv6 makes the cluster IPv6-only (the API server double
stays on its IPv4 address). The matrix is printed for each family.
--backend vxlan,host-gw,udp gives each node its own backend (node0 vxlan, node1 host-gw, …): a mixed
cluster, each node reaching each peer the way the peer advertises.
--no-daemon runs no daemon and no API server: the lab writes subnet.env and host-gw style routes
itself (checks the lab and the CNI wiring alone).
With --kubeconfig the lab creates its Node objects on that server and routes the server's address
from the underlay through the root namespace (a veth <prefix>-up with 198.18.0.1/24, ip_forward on,
one MASQUERADE rule); best effort, one such lab at a time.
--subnet-mgr etcd runs a real etcd (etcd-server) in the underlay namespace at 198.18.0.254:2379
holding /coreos.com/network/config, and the daemons without --kube-subnet-mgr against it: they
pick their subnets and keep their leases there.

doctor runs 'flanneld doctor' on NODE (a node name or index) with that node's files; the other
flags go to the doctor (flanneld doctor --help); its exit code is the doctor's.`;

const DEFAULT_PREFIX = 'flab';
const BACKENDS: readonly BackendType[] = ['vxlan', 'host-gw', 'udp'];
const IP_FAMILIES: readonly IpFamilyMode[] = ['ipv4', 'dual', 'ipv6'];

async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'doctor') return doctor(argv.slice(1));
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      nodes: { type: 'string', default: '3' },
      backend: { type: 'string', default: 'vxlan' },
      'direct-routing': { type: 'boolean', default: false },
      'ip-family': { type: 'string', default: 'ipv4' },
      'no-daemon': { type: 'boolean', default: false },
      'pods-per-node': { type: 'string', default: '1' },
      kubeconfig: { type: 'string' },
      'subnet-mgr': { type: 'string', default: 'kube' },
      prefix: { type: 'string', default: DEFAULT_PREFIX },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const command = positionals[0];
  if (values.help || command === undefined) {
    process.stdout.write(USAGE + '\n');
    return command === undefined && !values.help ? 2 : 0;
  }
  switch (command) {
    case 'up':
      return up(values);
    case 'down':
      return down(values.prefix);
    case 'status':
      return status();
    default:
      throw new Error(`unknown command ${JSON.stringify(command)}\n${USAGE}`);
  }
}

async function up(values: { nodes: string; backend: string; 'direct-routing': boolean; 'ip-family': string; 'no-daemon': boolean; 'pods-per-node': string; kubeconfig?: string | undefined; 'subnet-mgr': string; prefix: string }): Promise<number> {
  const problems = preflightProblems();
  if (problems.length > 0) throw new Error(`cannot build the lab:\n  ${problems.join('\n  ')}`);
  const prefix = values.prefix;
  if (loadState(prefix) !== undefined || (await listNetns(prefix)).length > 0) {
    throw new Error(`a lab with prefix ${prefix} is already up (${stateFile(prefix)}); run 'flannel-lab down${prefix === DEFAULT_PREFIX ? '' : ` --prefix ${prefix}`}' first`);
  }
  // A comma-separated list gives node i the i-th backend: a mixed cluster (docs/migration.md).
  const backends = values.backend.split(',') as BackendType[];
  for (const b of backends) if (!BACKENDS.includes(b)) throw new Error(`--backend must be one of ${BACKENDS.join(', ')} (or a comma-separated list, one per node), got ${JSON.stringify(values.backend)}`);
  const backend = backends[0]!;
  if (values['direct-routing'] && backend !== 'vxlan') throw new Error('--direct-routing applies to the vxlan backend only');
  const ipFamily = values['ip-family'] as IpFamilyMode;
  if (!IP_FAMILIES.includes(ipFamily)) throw new Error(`--ip-family must be one of ${IP_FAMILIES.join(', ')}, got ${JSON.stringify(values['ip-family'])}`);
  if (ipFamily !== 'ipv4' && backends.includes('udp')) throw new Error('--ip-family dual and ipv6 need vxlan or host-gw: the udp backend carries IPv4 only, as upstream\'s');
  if (ipFamily !== 'ipv4' && values['no-daemon']) throw new Error('--no-daemon labs are IPv4 only');
  if (values['no-daemon'] && values.kubeconfig !== undefined) throw new Error('--no-daemon runs no daemon, so --kubeconfig has no use');
  const subnetMgr = values['subnet-mgr'];
  if (subnetMgr !== 'kube' && subnetMgr !== 'etcd') throw new Error(`--subnet-mgr must be kube or etcd, got ${JSON.stringify(subnetMgr)}`);
  if (subnetMgr === 'etcd' && (values['no-daemon'] || values.kubeconfig !== undefined)) throw new Error('--subnet-mgr etcd runs the daemons against the lab\'s etcd: not with --no-daemon or --kubeconfig');
  const nodes = positiveInt('--nodes', values.nodes);
  const podsPerNode = positiveInt('--pods-per-node', values['pods-per-node']);
  if (backends.length > nodes) throw new Error(`--backend lists ${backends.length} backends for ${nodes} nodes`);

  // Ctrl-C while building: remove the half-built lab rather than leaving it behind.
  const onSignal = (): void => {
    process.stderr.write('\ninterrupted; removing the lab\n');
    void teardown(prefix).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const lab = await createLab({
    nodes,
    backend,
    directRouting: values['direct-routing'],
    ...(backends.length > 1 ? { nodeBackends: backends } : {}),
    ipFamily,
    podsPerNode,
    prefix,
    owned: false,
    ...(values['no-daemon'] ? { daemon: 'none' as const } : {}),
    ...(values.kubeconfig !== undefined ? { kubeconfig: values.kubeconfig } : {}),
    ...(subnetMgr === 'etcd' ? { subnetMgr } : {}),
  });
  process.stdout.write(lab.describe() + '\n\nconnectivity (each pod pings each other pod):\n');
  const matrix = await lab.waitForFullConnectivity(30_000);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  process.stdout.write(formatConnectivity(matrix) + '\n\n');
  const p = prefix === DEFAULT_PREFIX ? '' : ` --prefix ${prefix}`;
  process.stdout.write(`the lab stays up; run a shell in a pod with: ip netns exec ${lab.pod(0, 0).netns} sh\ncheck a node with: flannel-lab doctor ${lab.node(0).name}${p}\nremove it with: flannel-lab down${p}\n`);
  return matrix.failures.length === 0 ? 0 : 1;
}

async function down(prefix: string): Promise<number> {
  if (process.getuid?.() !== 0) throw new Error('flannel-lab down must run as root');
  if (loadState(prefix) === undefined && (await listNetns(prefix)).length === 0) {
    const others = savedLabs();
    process.stdout.write(`no lab with prefix ${prefix} is up${others.length > 0 ? ` (labs up: ${others.join(', ')}; use --prefix)` : ''}\n`);
    return 0;
  }
  await teardown(prefix);
  process.stdout.write(`lab ${prefix} removed\n`);
  return 0;
}

async function status(): Promise<number> {
  const prefixes = savedLabs();
  if (prefixes.length === 0) {
    process.stdout.write('no lab is up\n');
    return 0;
  }
  for (const prefix of prefixes) {
    const state = loadState(prefix);
    if (state === undefined) continue;
    const lab = new Lab(state);
    process.stdout.write(lab.describe() + '\n');
    for (const n of state.nodes) {
      if (n.daemonPid !== undefined && !isAlive(n.daemonPid)) process.stdout.write(`  WARNING: the daemon on ${n.name} (pid ${n.daemonPid}) is not running; see ${n.logFile}\n`);
    }
    if (state.apiServerPid !== undefined && !isAlive(state.apiServerPid)) process.stdout.write(`  WARNING: the API server double (pid ${state.apiServerPid}) is not running\n`);
    if (state.etcdPid !== undefined && !isAlive(state.etcdPid)) process.stdout.write(`  WARNING: etcd (pid ${state.etcdPid}) is not running\n`);
    process.stdout.write(formatConnectivity(await lab.pingMatrix()) + '\n\n');
  }
  return 0;
}

/** `flannel-lab doctor NODE [--prefix P] [doctor flags]`: the doctor's output and exit code, as is. */
async function doctor(argv: string[]): Promise<number> {
  let prefix = DEFAULT_PREFIX;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--prefix') prefix = argv[++i] ?? prefix;
    else if (a.startsWith('--prefix=')) prefix = a.slice('--prefix='.length);
    else rest.push(a);
  }
  const which = rest.shift();
  const state = loadState(prefix);
  if (state === undefined) throw new Error(`no lab with prefix ${prefix} is up (flannel-lab up first)`);
  if (which === undefined) throw new Error(`name a node: ${state.nodes.map((n) => n.name).join(', ')}\n${USAGE}`);
  const i = /^\d+$/.test(which) ? Number(which) : state.nodes.findIndex((n) => n.name === which);
  if (state.nodes[i] === undefined) throw new Error(`lab ${prefix} has no node ${JSON.stringify(which)} (nodes: ${state.nodes.map((n) => n.name).join(', ')})`);
  const [file, ...args] = doctorArgv(state, state.nodes[i]!, rest);
  const r = spawnSync(file!, args, { stdio: 'inherit' });
  return r.status ?? 1;
}

function positiveInt(flag: string, text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new Error(`${flag} must be a positive integer, got ${JSON.stringify(text)}`);
  return Number(text);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`flannel-lab: ${errorText(e)}\n`);
    process.exit(1);
  },
);
