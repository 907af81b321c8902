import { errorText } from '../../util/errors.ts';
import { containsAddress, formatAnyCidr, gatewayOf, type IpCidr } from '../../ip/cidr.ts';
import { formatCidr } from '../../ip/ipv4.ts';
import { formatCidr6 } from '../../ip/ipv6.ts';
import { fail, listNames, ok, skip, warn, type Check } from '../check.ts';
import { deviceAddrs, type Gathered } from '../facts.ts';
import type { Model } from '../model.ts';

/** The files the CNI plugin and the runtime read: subnet.env, the CNI config, the plugins, and cni0. */
export function checkFiles(g: Gathered, m: Model): Check[] {
  return [subnetEnv(g, m), cniConf(g), cniBin(g), cni0(g, m)];
}

function subnetEnv(g: Gathered, m: Model): Check {
  const id = 'files.subnet-env';
  const path = g.settings.subnetFile;
  if (!g.subnetEnv.ok) {
    return fail(id, g.subnetEnv.error, 'flanneld writes it once it holds a lease; until then the CNI plugin fails with "loadFlannelSubnetEnv failed"');
  }
  const v = g.subnetEnv.value.vars;
  const differ: string[] = [];
  const expect = (key: string, want: string | undefined): void => {
    if (want === undefined) return;
    const have = v.get(key);
    if (have !== want) differ.push(`${key}=${have ?? '(missing)'}, want ${want}`);
  };
  expect('FLANNEL_NETWORK', m.network === undefined ? undefined : formatCidr(m.network));
  expect('FLANNEL_SUBNET', m.own === undefined ? undefined : gatewayCidrOf(m.own.subnet));
  expect('FLANNEL_IPV6_NETWORK', m.ipv6Network === undefined ? undefined : formatCidr6(m.ipv6Network));
  expect('FLANNEL_IPV6_SUBNET', m.ownV6 === undefined ? undefined : gatewayCidrOf(m.ownV6.subnet));
  expect('FLANNEL_MTU', m.backendMtu === undefined ? undefined : String(m.backendMtu));
  expect('FLANNEL_IPMASQ', String(g.settings.ipMasq));
  if (differ.length > 0) {
    return fail(id, `${path}: ${differ.join('; ')}`, 'flanneld rewrites it at start and on a backend switch; if it runs and the file stays wrong, something else writes it (or the path differs from the CNI conf\'s subnetFile)');
  }
  const subnets = ['FLANNEL_SUBNET', 'FLANNEL_IPV6_SUBNET'].map((k) => v.get(k)).filter((x) => x !== undefined);
  return ok(id, `${path}: subnet ${subnets.join(', ') || '(none)'}, MTU ${v.get('FLANNEL_MTU')}, as the lease says`);
}

/** The subnet's first address with its prefix: what subnet.env names and the bridge plugin gives cni0. */
function gatewayCidrOf(c: IpCidr): string {
  return `${gatewayOf(c)}/${c.prefixLen}`;
}

interface CniConfDoc {
  type?: unknown;
  name?: unknown;
  plugins?: unknown;
}

function cniConf(g: Gathered): Check {
  const id = 'files.cni-conf';
  const dir = g.cni.confDir;
  if (!g.cni.confFiles.ok) return fail(id, `cannot read ${g.cni.confFiles.error}`, 'the install-cni init container copies 10-flannel.conflist there; pass --cni-conf-dir when the runtime uses another directory');
  const files = g.cni.confFiles.value;
  if (files.length === 0) return fail(id, `${dir} holds no .conf/.conflist/.json file`, 'the install-cni init container copies 10-flannel.conflist there; check it ran (kubectl -n kube-flannel describe pod)');
  // The runtime (libcni) takes the first file by name.
  const first = files[0]!;
  if (!first.text.ok) return fail(id, `${dir}/${first.name}: ${first.text.error}`, 'make the file readable');
  let doc: CniConfDoc;
  try {
    doc = JSON.parse(first.text.value) as CniConfDoc;
  } catch (e) {
    return fail(id, `${dir}/${first.name} is not JSON: ${errorText(e)}`, 'fix the file; the runtime cannot set up any pod network with it');
  }
  const types = Array.isArray(doc.plugins) ? (doc.plugins as CniConfDoc[]).map((p) => String(p?.type)) : [String(doc.type)];
  if (!types.includes('flannel')) {
    const others = files.filter((f) => f !== first).map((f) => f.name);
    return fail(
      id,
      `${dir}/${first.name} comes first by name and calls ${types.join(', ')}, not flannel${others.length > 0 ? ` (also there: ${listNames(others)})` : ''}`,
      `the runtime uses the first file: remove ${first.name} (e.g. containerd's default) or name flannel's so it sorts first`,
    );
  }
  return ok(id, `${dir}/${first.name}: "${String(doc.name)}" with plugins ${types.join(', ')}`);
}

function cniBin(g: Gathered): Check {
  const id = 'files.cni-bin';
  const missing = g.cni.bins.filter((b) => !b.ok);
  if (missing.length > 0) {
    return fail(
      id,
      missing.map((b) => b.detail).join('; '),
      `pods on this node cannot start without them: the install-cni-plugin init container copies flannel; bridge, host-local and portmap come from the CNI plugins package (containernetworking-plugins) in ${g.cni.binDir}`,
      missing.map((b) => b.name),
    );
  }
  return ok(id, `${g.cni.binDir} has ${g.cni.bins.map((b) => b.name).join(', ')}`);
}

function cni0(g: Gathered, m: Model): Check {
  const id = 'files.cni0';
  if (!g.kernel.ok) return skip(id, g.kernel.error);
  const link = g.kernel.value.links.find((l) => l.name === 'cni0');
  if (link === undefined) return ok(id, 'no cni0 yet (the bridge plugin creates it with the first pod)');
  const halves = [
    { family: 'ipv4' as const, name: 'IPv4', own: m.own?.subnet, network: m.network },
    { family: 'ipv6' as const, name: 'IPv6', own: m.ownV6?.subnet, network: m.ipv6Network },
  ].filter((h) => h.own !== undefined);
  if (halves.length === 0) return skip(id, 'no lease to compare cni0 with');
  const good: string[] = [];
  for (const h of halves) {
    const own = h.own!;
    const gw = gatewayCidrOf(own);
    const addrs = deviceAddrs(g.kernel.value, link.index, h.family).map((a) => `${a.address}/${a.prefixLen}`);
    const foreign = addrs.filter((a) => a !== gw);
    const inNetwork = foreign.filter((a) => h.network !== undefined && containsAddress(h.network, a.split('/')[0]!));
    if (foreign.length > 0) {
      const where = inNetwork.length > 0 ? ' (from another podCIDR: the bridge plugin now fails with "cni0 already has an IP address different from")' : '';
      return fail(id, `cni0 has ${foreign.join(', ')} besides ${addrs.includes(gw) ? gw : `no ${gw}`}${where}`, 'ip link delete cni0 (the bridge plugin re-creates it with the right address on the next pod; pods on this node need a restart)', { addresses: addrs, want: gw });
    }
    if (!addrs.includes(gw)) {
      if (addrs.length === 0) return warn(id, `cni0 has no ${h.name} address (want ${gw})`, 'the bridge plugin adds it with the next pod; if pods run, ip link delete cni0 and restart them');
      return fail(id, `cni0 lacks ${gw}`, 'ip link delete cni0 and restart the pods on this node');
    }
    good.push(`${gw}, the gateway of ${formatAnyCidr(own)}`);
  }
  return ok(id, `cni0 has ${good.join(' and ')}, nothing else`);
}
