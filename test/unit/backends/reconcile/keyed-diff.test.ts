import { describe, expect, it } from 'vitest';
import { diffKeyed } from '../../../../src/backends/reconcile/keyed-diff.ts';

describe('diffKeyed', () => {
  it('splits into create, replace, remove and counts unchanged', () => {
    const want = new Map([['a', 1], ['b', 2], ['c', 3]]);
    const have = new Map([['b', 2], ['c', 4], ['d', 5]]);
    expect(diffKeyed(want, have, (w, h) => w === h)).toEqual({ create: [1], replace: [[3, 4]], remove: [5], unchanged: 1 });
  });
  it('is empty for equal sets and for two empty sets', () => {
    const m = new Map([['x', 'y']]);
    expect(diffKeyed(m, m, (w, h) => w === h)).toEqual({ create: [], replace: [], remove: [], unchanged: 1 });
    expect(diffKeyed(new Map(), new Map(), () => true)).toEqual({ create: [], replace: [], remove: [], unchanged: 0 });
  });
});
