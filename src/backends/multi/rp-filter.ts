import { readFileSync } from 'node:fs';
import { sysctlPath } from '../sysctl.ts';

/**
 * The sysctl that makes reverse-path filtering strict on `dev`, or undefined when it is not
 * strict. The kernel applies the larger of `all` and the device's value (0 off, 1 strict,
 * 2 loose), so strict means the larger one is 1.
 */
export function strictRpFilter(dev: string, read: (key: string) => string | undefined = readSysctl): string | undefined {
  const all = Number(read('net/ipv4/conf/all/rp_filter') ?? '0');
  const own = Number(read(`net/ipv4/conf/${dev}/rp_filter`) ?? '0');
  if (Math.max(all, own) !== 1) return undefined;
  return all === 1 ? 'net.ipv4.conf.all.rp_filter' : `net.ipv4.conf.${dev}.rp_filter`;
}

function readSysctl(key: string): string | undefined {
  try {
    return readFileSync(sysctlPath(key), 'utf8').trim();
  } catch {
    return undefined;
  }
}
