import { describe, expect, it } from 'vitest';
import { LogRing } from '../../../src/observe/log-ring.ts';

describe('LogRing', () => {
  it('keeps the last lines, oldest first', () => {
    const r = new LogRing(3);
    expect(r.tail()).toEqual([]);
    for (const l of ['a\n', 'b', 'c\n', 'd\n']) r.push(l);
    expect(r.tail()).toEqual(['b', 'c', 'd']);
  });
});
