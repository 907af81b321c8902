import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCidr, type Ipv4Cidr } from '../../src/ip/ipv4.ts';
import { silentLogger } from '../../src/observe/log.ts';
import { createTrafficManager, type TrafficMode } from '../../src/traffic/manager.ts';
import { NetnsSet, nsRunner, requireRoot, sh } from './netns.ts';

const cidr = (s: string): Ipv4Cidr => parseCidr(s)!;
const NODE_BIN = process.execPath;
const ECHO = fileURLToPath(new URL('./peer-echo.ts', import.meta.url));

/**
 * pod (10.244.1.2) ─veth─ node (10.244.1.1 | 198.18.0.2, forwarding) ─veth─ outside (198.18.0.9,
 * and 10.244.2.5 standing for a pod on another node, reached via the node's underlay like host-gw).
 */
function buildTopology(nets: NetnsSet, tag: string): { pod: string; node: string; outside: string } {
  const pod = nets.add(`${tag}-pod`);
  const node = nets.add(`${tag}-node`);
  const outside = nets.add(`${tag}-out`);
  sh(node, `ip link add p0 type veth peer name n0 netns ${pod} && ip link add u0 type veth peer name o0 netns ${outside}`);
  sh(node, 'ip addr add 10.244.1.1/24 dev p0 && ip addr add 198.18.0.2/24 dev u0 && ip link set p0 up && ip link set u0 up');
  sh(node, 'ip route add 10.244.2.0/24 via 198.18.0.9 && echo 1 > /proc/sys/net/ipv4/ip_forward');
  sh(pod, 'ip addr add 10.244.1.2/24 dev n0 && ip link set n0 up && ip route add default via 10.244.1.1');
  sh(outside, 'ip addr add 198.18.0.9/24 dev o0 && ip addr add 10.244.2.5/32 dev o0 && ip link set o0 up');
  // A return path for unmasqueraded pod traffic, as the other node would have.
  sh(outside, 'ip route add 10.244.1.0/24 via 198.18.0.2');
  return { pod, node, outside };
}

async function startEcho(ns: string, ip: string): Promise<ChildProcess> {
  const child = spawn('ip', ['netns', 'exec', ns, NODE_BIN, ECHO, ip, '8080'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (b: Buffer) => b.toString().includes('listening') && resolve());
    child.on('exit', (code) => reject(new Error(`echo server on ${ip} exited ${code}`)));
  });
  return child;
}

/** Connects from the pod and returns the source address the server saw. */
function seenSource(pod: string, ip: string): string {
  const js = `require('net').connect(8080,'${ip}').on('data',d=>process.stdout.write(String(d))).on('error',e=>{console.error(e.message);process.exit(1)})`;
  return sh(pod, `timeout 10 ${NODE_BIN} -e "${js}"`).trim();
}

const nets = new NetnsSet();
const children: ChildProcess[] = [];
beforeAll(() => requireRoot());
afterAll(() => {
  for (const c of children) c.kill();
  nets.removeAll();
});

describe.each<TrafficMode>(['iptables', 'nftables'])('packets through a node with %s rules', (mode) => {
  it('masquerades pod→outside as the node address, and keeps the pod address towards the cluster', async () => {
    const { pod, node, outside } = buildTopology(nets, mode.slice(0, 3));
    children.push(await startEcho(outside, '198.18.0.9'), await startEcho(outside, '10.244.2.5'));

    // Control: without rules the outside sees the pod address.
    expect(seenSource(pod, '198.18.0.9')).toBe('10.244.1.2');

    if (mode === 'iptables') sh(node, 'iptables -P FORWARD DROP'); // only FLANNEL-FWD lets pod traffic through
    const tm = createTrafficManager({ mode, exec: nsRunner(node).exec, log: silentLogger(), resyncSeconds: 5, fullyRandom: true });
    await tm.ensureMasq(cidr('10.244.0.0/16'), cidr('10.244.1.0/24'));
    await tm.ensureForward(cidr('10.244.0.0/16'));

    expect(seenSource(pod, '198.18.0.9')).toBe('198.18.0.2');
    expect(seenSource(pod, '10.244.2.5')).toBe('10.244.1.2');
  });
});
