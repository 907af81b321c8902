import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCidr, type Ipv4Cidr } from '../../src/ip/ipv4.ts';
import { silentLogger } from '../../src/observe/log.ts';
import { createTrafficManager, type TrafficMode } from '../../src/traffic/manager.ts';
import { addVeth } from '../../lab/harness/netns.ts';
import { NetnsSet, nsRunner, requireRoot, sh } from './netns.ts';

const cidr = (s: string): Ipv4Cidr => parseCidr(s)!;
const NODE_BIN = process.execPath;
const ECHO = fileURLToPath(new URL('./peer-echo.ts', import.meta.url));

/**
 * pod (10.244.1.2) ─veth─ node (10.244.1.1 | 198.18.0.2, forwarding) ─veth─ outside (198.18.0.9,
 * and 10.244.2.5 standing for a pod on another node, reached via the node's underlay like host-gw).
 */
async function buildTopology(nets: NetnsSet, tag: string): Promise<{ pod: string; node: string; outside: string }> {
  const pod = await nets.add(`${tag}-pod`);
  const node = await nets.add(`${tag}-node`);
  const outside = await nets.add(`${tag}-out`);
  await addVeth({ netns: node, name: 'p0', address: '10.244.1.1/24' }, { netns: pod, name: 'n0', address: '10.244.1.2/24' });
  await addVeth({ netns: node, name: 'u0', address: '198.18.0.2/24' }, { netns: outside, name: 'o0', address: '198.18.0.9/24' });
  await sh(node, 'ip route add 10.244.2.0/24 via 198.18.0.9 && echo 1 > /proc/sys/net/ipv4/ip_forward');
  await sh(pod, 'ip route add default via 10.244.1.1');
  await sh(outside, 'ip addr add 10.244.2.5/32 dev o0');
  // A return path for unmasqueraded pod traffic, as the other node would have.
  await sh(outside, 'ip route add 10.244.1.0/24 via 198.18.0.2');
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
async function seenSource(pod: string, ip: string): Promise<string> {
  const js = `require('net').connect(8080,'${ip}').on('data',d=>process.stdout.write(String(d))).on('error',e=>{console.error(e.message);process.exit(1)})`;
  return (await sh(pod, `timeout 10 ${NODE_BIN} -e "${js}"`)).trim();
}

const nets = new NetnsSet('fttr');
const children: ChildProcess[] = [];
beforeAll(() => requireRoot());
afterAll(async () => {
  for (const c of children) c.kill();
  await nets.removeAll();
});

describe.each<TrafficMode>(['iptables', 'nftables'])('packets through a node with %s rules', (mode) => {
  it('masquerades pod→outside as the node address, and keeps the pod address towards the cluster', async () => {
    const { pod, node, outside } = await buildTopology(nets, mode.slice(0, 3));
    children.push(await startEcho(outside, '198.18.0.9'), await startEcho(outside, '10.244.2.5'));

    // Control: without rules the outside sees the pod address.
    expect(await seenSource(pod, '198.18.0.9')).toBe('10.244.1.2');

    if (mode === 'iptables') await sh(node, 'iptables -P FORWARD DROP'); // only FLANNEL-FWD lets pod traffic through
    const tm = createTrafficManager({ mode, exec: nsRunner(node).exec, log: silentLogger(), resyncSeconds: 5, fullyRandom: true });
    await tm.ensureMasq(cidr('10.244.0.0/16'), cidr('10.244.1.0/24'));
    await tm.ensureForward(cidr('10.244.0.0/16'));

    expect(await seenSource(pod, '198.18.0.9')).toBe('198.18.0.2');
    expect(await seenSource(pod, '10.244.2.5')).toBe('10.244.1.2');
  });
});
