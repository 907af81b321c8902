import { containsAnyCidr, enabledFamilies, familyName, formatAnyCidr } from '../../ip/cidr.ts';
import { annotationChanges, podCidrs } from '../../subnet/kube/node-lease.ts';
import { decodeLeaseValue, encodeLeaseValue, subnetsPrefix } from '../../subnet/etcd/lease-value.ts';
import { leaseSubnets, type Lease, type LeaseAttrs } from '../../subnet/lease.ts';
import { leaseOfView } from '../model.ts';
import { count, fail, listNames, ok, skip, warn, type Check } from '../check.ts';
import type { Gathered } from '../facts.ts';
import type { Model } from '../model.ts';

/** The lease: the API answers, the node has a podCIDR, its annotations are what the daemon publishes, no public-ip twice. */
export function checkLease(g: Gathered, m: Model): Check[] {
  if (g.etcd !== undefined) return checkEtcdLease(g, m);
  const out: Check[] = [];
  if (!g.api.ok) {
    out.push(fail('lease.api', `cannot list nodes: ${g.api.error}`, 'check the kubeconfig / service account and that the API server is reachable from the node'));
    return out;
  }
  out.push(ok('lease.api', `${g.api.value.server}: ${g.api.value.nodes.length} nodes`));
  out.push(podCidr(g, m));
  out.push(annotations(g, m));
  out.push(publicIps(m, ownPublicIps(m)));
  out.push(peerView(g, m));
  return out;
}

/** etcd mode: etcd answers, the own key holds what the daemon publishes, no public-ip twice. */
function checkEtcdLease(g: Gathered, m: Model): Check[] {
  const etcd = g.etcd!;
  if (!etcd.ok) {
    return [fail('lease.etcd', `cannot read the leases: ${etcd.error}`, 'check --etcd-endpoints, the TLS and auth flags, and that etcd is reachable from the node')];
  }
  // What flanneld holds and publishes, when it answered.
  const held = g.daemon.ok && g.daemon.value.lease !== undefined ? leaseOfView(g.daemon.value.lease) : undefined;
  const out = [ok('lease.etcd', `${etcd.value.endpoints}: ${count(etcd.value.kvs.length, 'key')} under ${subnetsPrefix(etcd.value.prefix)}`), etcdKey(m, held)];
  const own = held?.attrs ?? (m.etcdOwn?.value === undefined ? undefined : attrsOf(m.etcdOwn.value));
  out.push(publicIps(m, own === undefined ? [] : [own.publicIp, own.publicIpv6].flatMap((ip) => (ip === undefined ? [] : [{ ip, node: 'this node' }]))));
  out.push(peerView(g, m));
  return out;
}

/** The own lease key: present, and byte for byte what the daemon publishes. */
function etcdKey(m: Model, held: Lease | undefined): Check {
  const id = 'lease.key';
  const own = m.etcdOwn;
  if (own === undefined) return fail(id, 'no own subnet known (the daemon did not answer and there is no subnet.env)', 'start flanneld: it takes a lease and writes subnet.env');
  if (own.value === undefined) {
    return fail(id, `${own.key} is not in etcd: the lease expired or was deleted`, 'flanneld shuts down when its lease is deleted and takes one again when it starts: restart it if it still runs');
  }
  if (held !== undefined) {
    const want = encodeLeaseValue(held.attrs);
    if (own.value !== want) return fail(id, `${own.key} holds ${own.value}, but flanneld publishes ${want}`, 'something else wrote the key; flanneld writes it again when it renews the lease or restarts');
  }
  return ok(id, `${own.key} = ${own.value}${held !== undefined ? ', as flanneld publishes' : ''}`);
}

function attrsOf(value: string): LeaseAttrs | undefined {
  try {
    return decodeLeaseValue(value);
  } catch {
    return undefined;
  }
}

/** The own node's public addresses, as its annotations say. */
function ownPublicIps(m: Model): { ip: string; node: string }[] {
  const node = m.ownNode;
  const keys = m.keys;
  if (node === undefined || keys === undefined) return [];
  const out: { ip: string; node: string }[] = [];
  for (const [on, key] of [[m.families.ipv4, keys.publicIp], [m.families.ipv6, keys.publicIpv6]] as const) {
    const ip = on ? node.annotations[key] : undefined;
    if (ip !== undefined) out.push({ ip, node: node.name });
  }
  return out;
}

function podCidr(g: Gathered, m: Model): Check {
  const id = 'lease.pod-cidr';
  if (!g.nodeName.ok) return fail(id, `cannot tell which node this is: ${g.nodeName.error}`, 'set NODE_NAME (the manifest passes POD_NAME and POD_NAMESPACE), or pass --node-name');
  const node = m.ownNode;
  if (node === undefined) return fail(id, `node "${m.nodeName}" is not in the API server's node list`, 'register the node (kubelet) or pass the right --node-name');
  const c = podCidrs(node, m.families);
  if (c.kind === 'missing') {
    return fail(id, `node "${node.name}" has no spec.podCIDR`, 'kube-controller-manager --allocate-node-cidrs=true --cluster-cidr=<Network> (kubeadm: --pod-network-cidr), or set spec.podCIDR');
  }
  if (c.kind === 'invalid') return fail(id, `node "${node.name}": ${c.reason}`, `fix spec.podCIDRs (one CIDR of each family the cluster runs: ${enabledFamilies(m.families).map(familyName).join(' and ')})`);
  const halves = [
    { have: m.families.ipv4 ? c.ipv4 : undefined, network: m.network, own: m.own, key: 'Network' },
    { have: m.families.ipv6 ? c.ipv6 : undefined, network: m.ipv6Network, own: m.ownV6, key: 'IPv6Network' },
  ];
  const texts: string[] = [];
  for (const h of halves) {
    if (h.have === undefined) continue;
    const text = formatAnyCidr(h.have);
    if (h.network !== undefined && !containsAnyCidr(h.network, h.have)) {
      return fail(id, `node "${node.name}" spec.podCIDR ${text} is outside ${h.key} ${formatAnyCidr(h.network)}`, `make net-conf.json ${h.key} match kube-controller-manager --cluster-cidr`);
    }
    if (h.own?.source === 'daemon' && formatAnyCidr(h.own.subnet) !== text) {
      return fail(id, `node "${node.name}" spec.podCIDR ${text}, but flanneld runs with ${formatAnyCidr(h.own.subnet)}`, 'restart flanneld so it takes the current podCIDR');
    }
    texts.push(text);
  }
  return ok(id, `node "${node.name}" spec.podCIDR${texts.length > 1 ? 's' : ''} ${texts.join(', ')}`);
}

function annotations(g: Gathered, m: Model): Check {
  const id = 'lease.annotations';
  const node = m.ownNode;
  const keys = m.keys;
  if (node === undefined || keys === undefined) return skip(id, 'no node object to compare');
  const a = node.annotations;
  const d = g.daemon.ok ? g.daemon.value.lease : undefined;
  const held = d === undefined ? undefined : leaseOfView(d);
  const missing: string[] = [];
  const differ: string[] = [];
  if (held !== undefined) {
    // Exactly what the daemon would patch (node-lease.ts, as upstream's AcquireLease): nothing when right.
    for (const [k, v] of Object.entries(annotationChanges(node, keys, held.attrs))) {
      if (a[k] === undefined) missing.push(k);
      else differ.push(`${k}=${JSON.stringify(a[k])}, flanneld publishes ${JSON.stringify(v)}`);
    }
  } else {
    // No daemon: each family the cluster runs needs its public address (of this node's interface) and data.
    const want: Record<string, string | undefined> = {
      [keys.kubeSubnetManager]: 'true',
      [keys.backendType]: m.backend === undefined ? undefined : m.backend.type === 'udp' ? '' : m.backend.type,
      ...(m.families.ipv4 ? { [keys.backendData]: undefined, [keys.publicIp]: m.ext?.extAddr } : {}),
      ...(m.families.ipv6 ? { [keys.backendV6Data]: undefined, [keys.publicIpv6]: m.ext?.extV6Addr } : {}),
    };
    for (const [k, v] of Object.entries(want)) {
      const have = a[k];
      if (have === undefined) missing.push(k);
      else if (v !== undefined && have !== v && !(k === keys.publicIp && a[keys.publicIpOverwrite]) && !(k === keys.publicIpv6 && a[keys.publicIpv6Overwrite])) {
        differ.push(`${k}=${JSON.stringify(have)}, flanneld publishes ${JSON.stringify(v)}`);
      }
    }
  }
  if (missing.length > 0) {
    return fail(id, `node "${node.name}" lacks ${missing.join(', ')}`, 'flanneld writes them once it holds the lease; see its log for why it has not');
  }
  if (differ.length > 0) {
    return fail(id, `node "${node.name}": ${differ.join('; ')}`, 'something else rewrites the annotations, or flanneld could not patch the node (RBAC: nodes/status patch)');
  }
  const short = (key: string): string => `${key.slice(keys.prefix.length)}=${a[key] || '(udp)'}`;
  const shown = [...(m.families.ipv4 ? [keys.publicIp] : []), ...(m.families.ipv6 ? [keys.publicIpv6] : []), keys.backendType].map(short);
  return ok(id, `node "${node.name}": ${shown.join(', ')}${d === undefined ? ' (no daemon to compare with)' : ', as flanneld publishes'}`);
}

function publicIps(m: Model, own: readonly { ip: string; node: string }[]): Check {
  const id = 'lease.public-ip';
  const byIp = new Map<string, string[]>();
  const add = (ip: string, node: string): void => {
    const list = byIp.get(ip) ?? [];
    list.push(node);
    byIp.set(ip, list);
  };
  for (const o of own) add(o.ip, o.node);
  for (const p of m.leases) {
    for (const ip of [p.attrs.publicIp, p.attrs.publicIpv6]) if (ip !== undefined) add(ip, p.node ?? leaseSubnets(p));
  }
  const dups = [...byIp].filter(([, nodes]) => nodes.length > 1);
  // A dual-stack node has two public addresses: count nodes, not addresses.
  const nodes = new Set([...byIp.values()].flat()).size;
  if (dups.length === 0) return ok(id, `${nodes} nodes, each with its own public-ip${m.families.ipv4 && m.families.ipv6 ? ' and public-ipv6' : ''}`);
  const text = dups.map(([ip, nodes]) => `${ip} is advertised by ${nodes.map((n) => `"${n}"`).join(' and ')}`).join('; ');
  return fail(
    id,
    text,
    'traffic for one of them goes to the other: pick the right interface on those nodes (--iface, --iface-can-reach, --public-ip) or fix the public-ip-overwrite annotation',
    dups.map(([ip, nodes]) => ({ ip, nodes })),
  );
}

function peerView(g: Gathered, m: Model): Check {
  const id = 'lease.peers';
  const problems: string[] = [];
  for (const x of m.malformed) problems.push(x.problem);
  if (g.daemon.ok) {
    // Field by field (the order of the attrs' keys depends on where a lease was read).
    const a = (l: Lease) => l.attrs;
    const seen = (l: Lease): string => JSON.stringify([l.subnet && formatAnyCidr(l.subnet), l.ipv6Subnet && formatAnyCidr(l.ipv6Subnet), a(l).publicIp, a(l).publicIpv6, a(l).backendType, a(l).backendData, a(l).backendV6Data]);
    const known = new Set(g.daemon.value.peers.map(leaseOfView).filter((l) => l !== undefined).map(seen));
    const stale = m.leases.filter((p) => !known.has(seen(p))).map((p) => p.node ?? leaseSubnets(p));
    if (stale.length > 0) problems.push(`flanneld's view differs from ${m.peersSource === 'etcd' ? 'etcd' : 'the API'} for ${listNames(stale)}`);
  }
  if (problems.length > 0) {
    const fixWhat = m.peersSource === 'etcd' ? 'malformed etcd keys are skipped by every flanneld (fix or delete them)' : 'malformed nodes are skipped by every flanneld (fix their annotations)';
    return warn(id, problems.join('; '), `${fixWhat}; a view that stays different means the daemon's watch is stuck: restart it`);
  }
  return ok(id, `${m.leases.length === 1 ? '1 peer' : `${m.leases.length} peers`} with valid ${m.peersSource === 'etcd' ? 'leases' : 'annotations'}${g.daemon.ok ? ', as flanneld sees them' : ''}`);
}
