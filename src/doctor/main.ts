/**
 * `flanneld doctor`: the "pods can't reach each other" checklist, run on the node by flannel
 * itself. Reads the daemon's /debug/state, the files, the API server and the kernel; prints
 * one line per check (ok / warn / fail, evidence, what to do) or --json; exits 0 when all is
 * well, 1 on a warning, 2 on a failure (3 when the doctor itself cannot run).
 *
 *   flanneld doctor [--json] [--bundle FILE] [--no-probe] [--probe-timeout MS]
 *                   [--cni-conf-dir DIR] [--cni-bin-dir DIR] [--node-name NAME] [flanneld flags…]
 *
 * flanneld's own flags (--healthz-port, --subnet-file, --kubeconfig-file, --iface, …) say where
 * things are when the daemon does not answer, and override what it reports when given.
 */
import { errorText } from '../util/errors.ts';
import { parseFlags, UsageError } from '../cli/flags.ts';
import { formatAnyCidr } from '../ip/cidr.ts';
import { readTxCsum } from '../kernel/tx-csum.ts';
import { openNetlink } from '../netlink/index.ts';
import { IcmpProber } from '../probe/icmp.ts';
import { writeBundle } from './bundle.ts';
import type { Check } from './check.ts';
import { checkDaemon } from './checks/daemon.ts';
import { checkDatapath } from './checks/datapath.ts';
import { checkFiles } from './checks/files.ts';
import { checkLease } from './checks/lease.ts';
import { checkReach, httpGet, type PeerProbe } from './checks/reach.ts';
import { checkRules } from './checks/rules.ts';
import { gather, type DoctorFlags } from './facts.ts';
import { deriveModel, type Model } from './model.ts';
import { buildReport, renderTable } from './report.ts';

export const DOCTOR_USAGE = `usage: flanneld doctor [--json] [--bundle FILE] [--no-probe] [--probe-timeout MS]
                       [--cni-conf-dir DIR] [--cni-bin-dir DIR] [--node-name NAME] [flanneld flags...]

Checks this node the way an operator would when pods cannot reach each other: the daemon, the
lease and annotations, subnet.env and the CNI files, the overlay device and every peer's kernel
entries, MTUs, sysctls, forward and masquerade rules, the checksum-offload bug, and probes to
every peer through the overlay. Exit 0 all ok, 1 warnings, 2 failures.

  --json               the report as JSON
  --bundle FILE        also write the evidence (kernel tables, rules, files, daemon state and log,
                       probe results) to FILE as tar.gz; no kubeconfig, no tokens
  --no-probe           skip the reachability probes
  --probe-timeout MS   wait per probe (default 1000)
  --cni-conf-dir DIR   default /etc/cni/net.d
  --cni-bin-dir DIR    default /opt/cni/bin
  --node-name NAME     this node (default: what flanneld reports, else NODE_NAME)
flanneld flags (--healthz-ip/--healthz-port to reach the daemon, default 127.0.0.1:8081;
--subnet-file, --net-config-path, --kubeconfig-file, --iface, ...) apply when the daemon does
not answer, and override what it reports when given. In etcd mode (the daemon says so, or
--etcd-* flags are given) the lease is checked in etcd, with the daemon's --etcd-* flags; the
password is never in the daemon's state: give --etcd-password (or FLANNELD_ETCD_PASSWORD).
`;

interface Parsed {
  readonly doctor: DoctorFlags;
  readonly rest: string[];
}

/** Splits the doctor's own flags from flanneld's (which parseFlags then reads). */
export function parseDoctorArgs(argv: readonly string[]): Parsed | 'help' {
  let json = false;
  let bundle: string | undefined;
  let probe = true;
  let probeTimeoutMs = 1000;
  let cniConfDir = '/etc/cni/net.d';
  let cniBinDir = '/opt/cni/bin';
  let nodeName: string | undefined;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const m = /^--?([a-z-]+)(?:=(.*))?$/.exec(arg);
    const name = m?.[1];
    const value = (): string => {
      if (m?.[2] !== undefined) return m[2];
      if (i + 1 >= argv.length) throw new UsageError(`flag needs an argument: -${name}`);
      return argv[++i]!;
    };
    switch (name) {
      case 'h':
      case 'help':
        return 'help';
      case 'json':
        json = true;
        break;
      case 'no-probe':
        probe = false;
        break;
      case 'bundle':
        bundle = value();
        break;
      case 'probe-timeout': {
        const v = value();
        if (!/^\d+$/.test(v) || Number(v) < 10 || Number(v) > 60000) throw new UsageError(`invalid value ${JSON.stringify(v)} for flag -probe-timeout: expected milliseconds 10..60000`);
        probeTimeoutMs = Number(v);
        break;
      }
      case 'cni-conf-dir':
        cniConfDir = value();
        break;
      case 'cni-bin-dir':
        cniBinDir = value();
        break;
      case 'node-name':
        nodeName = value();
        break;
      default:
        rest.push(arg);
    }
  }
  return { doctor: { json, bundle, probe, probeTimeoutMs, cniConfDir, cniBinDir, nodeName }, rest };
}

export async function doctorMain(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  let parsed: Parsed | 'help';
  let opts;
  try {
    parsed = parseDoctorArgs(argv);
    if (parsed === 'help') {
      process.stdout.write(DOCTOR_USAGE);
      return 0;
    }
    const flags = parseFlags(parsed.rest, env, 'flanneld doctor');
    if (flags.kind !== 'run') {
      process.stdout.write(DOCTOR_USAGE);
      return 0;
    }
    opts = flags.options;
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`${e.message}\n${DOCTOR_USAGE}`);
    return 3;
  }
  const { doctor } = parsed;

  const g = await gather(opts, doctor, env);
  const m = deriveModel(g);
  const checks: Check[] = [...checkDaemon(g), ...checkLease(g, m), ...checkFiles(g, m)];
  const nl = openNetlink();
  try {
    checks.push(...(await checkDatapath(g, m, { routeGet: (ip) => nl.routeGet(ip), txCsum: (dev) => readTxCsum(dev) })));
  } finally {
    nl.close();
  }
  checks.push(...checkRules(g, m));

  let prober: IcmpProber | undefined;
  let probeError: string | undefined;
  if (doctor.probe) {
    try {
      prober = IcmpProber.open();
    } catch (e) {
      probeError = errorText(e);
    }
  }
  let probes: readonly PeerProbe[] = [];
  try {
    const reach = await checkReach(
      g,
      m,
      { probe: prober === undefined ? undefined : (dst, size, t) => prober.probe(dst, size, t), ...(probeError !== undefined ? { probeError } : {}), httpGet },
      { timeoutMs: doctor.probeTimeoutMs, attempts: 2 },
    );
    checks.push(...reach.checks);
    probes = reach.probes;
  } finally {
    prober?.close();
  }

  const report = buildReport(
    { node: m.nodeName, backend: m.backend?.type, lease: ownSubnets(m), peers: m.leases.length, at: g.at },
    checks,
  );
  process.stdout.write(doctor.json ? JSON.stringify(report, null, 2) + '\n' : renderTable(report));
  if (doctor.bundle !== undefined) {
    const names = await writeBundle(doctor.bundle, { g, m, report, probes });
    process.stderr.write(`wrote ${doctor.bundle} (${names.length} files)\n`);
  }
  return report.exitCode;
}

/** The own subnets, IPv4 first, comma-separated (as upstream's lease line); undefined without one. */
function ownSubnets(m: Model): string | undefined {
  const list = [m.own?.subnet, m.ownV6?.subnet].filter((c) => c !== undefined).map(formatAnyCidr);
  return list.length === 0 ? undefined : list.join(',');
}
