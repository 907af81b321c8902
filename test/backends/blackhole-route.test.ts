/**
 * --ip-blackhole-route against the kernel, in a network namespace this file creates
 * (ftbh-<pid>) and always removes: the route appears after one period, comes back when deleted,
 * and is left alone once the daemon stops. Needs root.
 */
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keepBlackholeRoute } from '../../src/backends/blackhole-route.ts';
import { parseCidr } from '../../src/ip/ipv4.ts';
import { parseCidr6 } from '../../src/ip/ipv6.ts';
import { openNetlink, type NetlinkHandle } from '../../src/netlink/index.ts';
import { silentLogger } from '../../src/observe/log.ts';

const ns = `ftbh-${process.pid}`;
const isRoot = process.getuid?.() === 0;
const PERIOD_MS = 100;

function blackholes(family = '-4'): string[] {
  const out = execFileSync('ip', [family, '-n', ns, '-j', 'route', 'show', 'type', 'blackhole'], { encoding: 'utf8' });
  return (JSON.parse(out || '[]') as { dst: string }[]).map((r) => r.dst);
}

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (ok()) return;
    await sleep(PERIOD_MS);
  }
  throw new Error(`gave up waiting: ${what}`);
}

let h: NetlinkHandle;

describe.skipIf(!isRoot)('keepBlackholeRoute', () => {
  beforeAll(() => {
    execFileSync('ip', ['netns', 'add', ns]);
    h = openNetlink({ netns: ns });
  });
  afterAll(() => {
    h?.close();
    try {
      execFileSync('ip', ['netns', 'del', ns]);
    } catch {
      // already gone
    }
  });

  it('writes blackhole <own subnet> one period after the start, puts it back when deleted, and stops with the signal', async () => {
    const stop = new AbortController();
    keepBlackholeRoute(h, parseCidr('10.244.1.0/24')!, PERIOD_MS, silentLogger(), stop.signal);
    expect(blackholes()).toEqual([]);
    await until('the blackhole route', () => blackholes().includes('10.244.1.0/24'));
    expect(blackholes()).toEqual(['10.244.1.0/24']);

    execFileSync('ip', ['-n', ns, 'route', 'del', 'blackhole', '10.244.1.0/24']);
    await until('the blackhole route to come back', () => blackholes().includes('10.244.1.0/24'));

    stop.abort();
    execFileSync('ip', ['-n', ns, 'route', 'del', 'blackhole', '10.244.1.0/24']);
    await sleep(5 * PERIOD_MS);
    expect(blackholes()).toEqual([]);
  });

  it('keeps the IPv6 subnet’s blackhole route in a dual-stack or IPv6-only cluster', async () => {
    const stop = new AbortController();
    keepBlackholeRoute(h, parseCidr6('fd00:10:244:1::/64')!, PERIOD_MS, silentLogger(), stop.signal);
    await until('the IPv6 blackhole route', () => blackholes('-6').includes('fd00:10:244:1::/64'));
    execFileSync('ip', ['-n', ns, '-6', 'route', 'del', 'blackhole', 'fd00:10:244:1::/64']);
    await until('the IPv6 blackhole route to come back', () => blackholes('-6').includes('fd00:10:244:1::/64'));
    stop.abort();
  });
});
