import { containsCidr, formatCidr } from '../../ip/ipv4.ts';
import { publishedAttrs } from '../../subnet/kube/node-lease.ts';
import { ipv4PodCidr } from '../model.ts';
import { fail, listNames, ok, skip, warn, type Check } from '../check.ts';
import type { Gathered } from '../facts.ts';
import type { Model } from '../model.ts';

/** The lease: the API answers, the node has a podCIDR, its annotations are what the daemon publishes, no public-ip twice. */
export function checkLease(g: Gathered, m: Model): Check[] {
  const out: Check[] = [];
  if (!g.api.ok) {
    out.push(fail('lease.api', `cannot list nodes: ${g.api.error}`, 'check the kubeconfig / service account and that the API server is reachable from the node'));
    return out;
  }
  out.push(ok('lease.api', `${g.api.value.server}: ${g.api.value.nodes.length} nodes`));
  out.push(podCidr(g, m));
  out.push(annotations(g, m));
  out.push(publicIps(m));
  out.push(peerView(g, m));
  return out;
}

function podCidr(g: Gathered, m: Model): Check {
  const id = 'lease.pod-cidr';
  if (!g.nodeName.ok) return fail(id, `cannot tell which node this is: ${g.nodeName.error}`, 'set NODE_NAME (the manifest passes POD_NAME and POD_NAMESPACE), or pass --node-name');
  const node = m.ownNode;
  if (node === undefined) return fail(id, `node "${m.nodeName}" is not in the API server's node list`, 'register the node (kubelet) or pass the right --node-name');
  const c = ipv4PodCidr(node);
  if (c.kind === 'missing') {
    return fail(id, `node "${node.name}" has no spec.podCIDR`, 'kube-controller-manager --allocate-node-cidrs=true --cluster-cidr=<Network> (kubeadm: --pod-network-cidr), or set spec.podCIDR');
  }
  if (c.kind === 'invalid') return fail(id, `node "${node.name}": ${c.reason}`, 'fix spec.podCIDRs (one IPv4 CIDR, optionally one IPv6)');
  const text = formatCidr(c.cidr);
  if (m.network !== undefined && !containsCidr(m.network, c.cidr)) {
    return fail(id, `node "${node.name}" spec.podCIDR ${text} is outside Network ${formatCidr(m.network)}`, 'make net-conf.json Network match kube-controller-manager --cluster-cidr');
  }
  if (m.own?.source === 'daemon' && formatCidr(m.own.subnet) !== text) {
    return fail(id, `node "${node.name}" spec.podCIDR ${text}, but flanneld runs with ${formatCidr(m.own.subnet)}`, 'restart flanneld so it takes the current podCIDR');
  }
  return ok(id, `node "${node.name}" spec.podCIDR ${text}`);
}

function annotations(g: Gathered, m: Model): Check {
  const id = 'lease.annotations';
  const node = m.ownNode;
  const keys = m.keys;
  if (node === undefined || keys === undefined) return skip(id, 'no node object to compare');
  const a = node.annotations;
  const d = g.daemon.ok ? g.daemon.value.lease : undefined;
  const want: Record<string, string | undefined> = {
    [keys.kubeSubnetManager]: 'true',
    [keys.backendType]: d?.backendType ?? (m.backend === undefined ? undefined : m.backend.type === 'udp' ? '' : m.backend.type),
    [keys.backendData]: d?.backendData,
    [keys.publicIp]: d === undefined ? m.ext?.extAddr : publishedAttrs(node, keys, { publicIp: d.publicIp, backendType: d.backendType, backendData: d.backendData }).publicIp,
  };
  const missing: string[] = [];
  const differ: string[] = [];
  for (const [k, v] of Object.entries(want)) {
    const have = a[k];
    if (have === undefined) missing.push(k);
    else if (v !== undefined && have !== v) differ.push(`${k}=${JSON.stringify(have)}, flanneld publishes ${JSON.stringify(v)}`);
  }
  if (missing.length > 0) {
    return fail(id, `node "${node.name}" lacks ${missing.join(', ')}`, 'flanneld writes them once it holds the lease; see its log for why it has not');
  }
  if (differ.length > 0) {
    return fail(id, `node "${node.name}": ${differ.join('; ')}`, 'something else rewrites the annotations, or flanneld could not patch the node (RBAC: nodes/status patch)');
  }
  return ok(id, `node "${node.name}": ${keys.publicIp.slice(keys.prefix.length)}=${a[keys.publicIp]}, ${keys.backendType.slice(keys.prefix.length)}=${a[keys.backendType] || '(udp)'}${d === undefined ? ' (no daemon to compare with)' : ', as flanneld publishes'}`);
}

function publicIps(m: Model): Check {
  const id = 'lease.public-ip';
  const byIp = new Map<string, string[]>();
  const add = (ip: string, node: string): void => {
    const list = byIp.get(ip) ?? [];
    list.push(node);
    byIp.set(ip, list);
  };
  if (m.ownNode !== undefined && m.keys !== undefined) {
    const own = m.ownNode.annotations[m.keys.publicIp];
    if (own !== undefined) add(own, m.ownNode.name);
  }
  for (const p of m.peers) add(p.attrs.publicIp, p.node ?? formatCidr(p.subnet));
  const dups = [...byIp].filter(([, nodes]) => nodes.length > 1);
  if (dups.length === 0) return ok(id, `${byIp.size} nodes, each with its own public-ip`);
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
    const known = new Set(g.daemon.value.peers.map((p) => `${p.subnet} ${p.publicIp} ${p.backendData}`));
    const stale = m.peers.filter((p) => !known.has(`${formatCidr(p.subnet)} ${p.attrs.publicIp} ${p.attrs.backendData}`)).map((p) => p.node ?? formatCidr(p.subnet));
    if (stale.length > 0) problems.push(`flanneld's view differs from the API for ${listNames(stale)}`);
  }
  if (problems.length > 0) {
    return warn(id, problems.join('; '), 'malformed nodes are skipped by every flanneld (fix their annotations); a view that stays different means the daemon\'s watch is stuck: restart it');
  }
  return ok(id, `${m.peers.length === 1 ? '1 peer' : `${m.peers.length} peers`} with valid annotations${g.daemon.ok ? ', as flanneld sees them' : ''}`);
}
