import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/observe/log.ts';
import { WarnOnce } from '../../../src/observe/warn-once.ts';

function capture(): { lines: Record<string, unknown>[]; w: WarnOnce } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { lines, w: new WarnOnce(createLogger({ destination, format: 'json' })) };
}

describe('WarnOnce', () => {
  it('logs each key once, at its level, with its fields', () => {
    const { lines, w } = capture();
    w.warn('a', 'first a');
    w.warn('a', 'first a again');
    w.warn('b', 'b with a node', { node: 'n1' });
    w.error('c', 'c failed', { node: 'n2', podCIDRs: ['x'] });
    w.error('c', 'c failed again');
    w.warn('c', 'c as a warning');
    expect(lines.map(({ level, msg, node, podCIDRs }) => ({ level, msg, node, podCIDRs }))).toEqual([
      { level: 40, msg: 'first a', node: undefined, podCIDRs: undefined },
      { level: 40, msg: 'b with a node', node: 'n1', podCIDRs: undefined },
      { level: 50, msg: 'c failed', node: 'n2', podCIDRs: ['x'] },
    ]);
  });
});
