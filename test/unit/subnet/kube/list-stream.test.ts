import { describe, expect, it } from 'vitest';
import { ListStreamParser } from '../../../../src/subnet/kube/list-stream.ts';

function parse(chunks: readonly Uint8Array[]): { items: unknown[]; rest: Record<string, unknown> } {
  const items: unknown[] = [];
  const p = new ListStreamParser((item) => items.push(item));
  for (const c of chunks) p.push(c);
  return { items, rest: p.end() };
}

const LIST = {
  kind: 'NodeList',
  apiVersion: 'v1',
  metadata: { resourceVersion: '42', note: 'items [not] {these} "quoted\\" \u00e9' },
  items: [
    { metadata: { name: 'a', annotations: { 'x/items': '[{"}' } }, spec: { podCIDRs: ['10.244.0.0/24'] } },
    { metadata: { name: 'b\u00fc\u{1f600}' }, spec: {}, status: { images: [[], [{}], 'items'] } },
    {},
  ],
  after: { items: [1, 2], path: 'C:\\dir\\', q: '\\"' },
};

describe('ListStreamParser', () => {
  it('yields every element of the top-level items and parses the rest, at any chunk boundary', () => {
    const bytes = Buffer.from(JSON.stringify(LIST, null, 1));
    const { items: _items, ...rest } = LIST;
    for (let cut = 0; cut <= bytes.length; cut++) {
      const got = parse([bytes.subarray(0, cut), bytes.subarray(cut)]);
      expect(got.items).toEqual(LIST.items);
      expect(got.rest).toEqual({ ...rest, items: [] });
    }
    const oneByOne = parse([...bytes].map((b) => Uint8Array.of(b)));
    expect(oneByOne.items).toEqual(LIST.items);
  });

  it('handles an empty or missing items list', () => {
    expect(parse([Buffer.from('{"metadata":{"resourceVersion":"7"},"items":[]}')])).toEqual({ items: [], rest: { metadata: { resourceVersion: '7' }, items: [] } });
    expect(parse([Buffer.from('{"metadata":{},"items":null}')])).toEqual({ items: [], rest: { metadata: {}, items: null } });
  });

  it('fails on a truncated or malformed document', () => {
    expect(() => parse([Buffer.from('{"items":[{"a":1},{"b":')])).toThrow(/ended in the middle/);
    expect(() => parse([Buffer.from('{"items":[{"a":1,}]}')])).toThrow(SyntaxError);
    expect(() => parse([Buffer.from('[1,2]')])).toThrow(/not a JSON object/);
  });
});
