/**
 * --ip-blackhole-route against the kernel, in a network namespace this file creates
 * (ftbh-<pid>-<hex>-a) and always removes: the route appears after one period, comes back when deleted,
 * and is left alone once the daemon stops. Needs root.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keepBlackholeRoute } from '../../src/backends/blackhole-route.ts';
import { parseCidr } from '../../src/ip/ipv4.ts';
import { parseCidr6 } from '../../src/ip/ipv6.ts';
import { openNetlink, type NetlinkHandle } from '../../src/netlink/index.ts';
import { silentLogger } from '../../src/observe/log.ts';
import { run } from '../../lab/harness/exec.ts';
import { isRoot, NetnsSet } from '../../lab/harness/netns.ts';

const nets = new NetnsSet('ftbh');
const ns = nets.name('a');
const PERIOD_MS = 100;

async function blackholes(family = '-4'): Promise<string[]> {
  const { stdout } = await run(['ip', family, '-n', ns, '-j', 'route', 'show', 'type', 'blackhole']);
  return (JSON.parse(stdout || '[]') as { dst: string }[]).map((r) => r.dst);
}

async function until(what: string, ok: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await ok()) return;
    await sleep(PERIOD_MS);
  }
  throw new Error(`gave up waiting: ${what}`);
}

let h: NetlinkHandle;

describe.skipIf(!isRoot)('keepBlackholeRoute', () => {
  beforeAll(async () => {
    await nets.add('a');
    h = openNetlink({ netns: ns });
  });
  afterAll(async () => {
    h?.close();
    await nets.removeAll();
  });

  it('writes blackhole <own subnet> one period after the start, puts it back when deleted, and stops with the signal', async () => {
    const stop = new AbortController();
    keepBlackholeRoute(h, parseCidr('10.244.1.0/24')!, PERIOD_MS, silentLogger(), stop.signal);
    expect(await blackholes()).toEqual([]);
    await until('the blackhole route', async () => (await blackholes()).includes('10.244.1.0/24'));
    expect(await blackholes()).toEqual(['10.244.1.0/24']);

    await run(['ip', '-n', ns, 'route', 'del', 'blackhole', '10.244.1.0/24']);
    await until('the blackhole route to come back', async () => (await blackholes()).includes('10.244.1.0/24'));

    stop.abort();
    await run(['ip', '-n', ns, 'route', 'del', 'blackhole', '10.244.1.0/24']);
    await sleep(5 * PERIOD_MS);
    expect(await blackholes()).toEqual([]);
  });

  it('keeps the IPv6 subnet’s blackhole route in a dual-stack or IPv6-only cluster', async () => {
    const stop = new AbortController();
    keepBlackholeRoute(h, parseCidr6('fd00:10:244:1::/64')!, PERIOD_MS, silentLogger(), stop.signal);
    await until('the IPv6 blackhole route', async () => (await blackholes('-6')).includes('fd00:10:244:1::/64'));
    await run(['ip', '-n', ns, '-6', 'route', 'del', 'blackhole', 'fd00:10:244:1::/64']);
    await until('the IPv6 blackhole route to come back', async () => (await blackholes('-6')).includes('fd00:10:244:1::/64'));
    stop.abort();
  });
});
