import { describe, expect, it } from 'vitest';
import { jsonPatch, mergePatch, PatchError, strategicMerge, type JsonObject } from '../../../../lab/apiserver/patch.ts';

const node = (): JsonObject => ({
  metadata: { name: 'n1', annotations: { a: '1', b: '2' }, labels: { x: 'y' } },
  spec: { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24'] },
  status: {
    conditions: [
      { type: 'Ready', status: 'True', reason: 'KubeletReady' },
      { type: 'NetworkUnavailable', status: 'True', reason: 'NoRouteCreated', message: 'old' },
    ],
  },
});

describe('strategic merge patch', () => {
  it('merges annotations and deletes keys patched to null', () => {
    const out = strategicMerge(node(), { metadata: { annotations: { b: null, c: '3' } } });
    expect(out['metadata']).toEqual({ name: 'n1', annotations: { a: '1', c: '3' }, labels: { x: 'y' } });
  });

  it('merges status.conditions by type, keeping other conditions and unpatched fields', () => {
    const out = strategicMerge(node(), {
      status: { conditions: [{ type: 'NetworkUnavailable', status: 'False', reason: 'FlannelIsUp' }] },
    });
    expect(out['status']).toEqual({
      conditions: [
        { type: 'Ready', status: 'True', reason: 'KubeletReady' },
        { type: 'NetworkUnavailable', status: 'False', reason: 'FlannelIsUp', message: 'old' },
      ],
    });
  });

  it('appends a condition of a new type and deletes one with $patch: delete', () => {
    const out = strategicMerge(node(), {
      status: { conditions: [{ type: 'Ready', $patch: 'delete' }, { type: 'MemoryPressure', status: 'False' }] },
    });
    expect(out['status']).toEqual({
      conditions: [
        { type: 'NetworkUnavailable', status: 'True', reason: 'NoRouteCreated', message: 'old' },
        { type: 'MemoryPressure', status: 'False' },
      ],
    });
  });

  it('rejects a condition without its merge key', () => {
    expect(() => strategicMerge(node(), { status: { conditions: [{ status: 'False' }] } })).toThrow(PatchError);
  });

  it('merges scalar set lists and replaces lists without a strategy', () => {
    const out = strategicMerge(
      { spec: { podCIDRs: ['a'], taints: [{ key: 'k1' }] } },
      { spec: { podCIDRs: ['a', 'b'], taints: [{ key: 'k2' }] } },
    );
    expect(out).toEqual({ spec: { podCIDRs: ['a', 'b'], taints: [{ key: 'k2' }] } });
  });

  it('ignores $setElementOrder and honours $patch: replace on maps', () => {
    const out = strategicMerge(node(), {
      metadata: { annotations: { $patch: 'replace', only: 'this' } },
      status: { '$setElementOrder/conditions': [{ type: 'Ready' }] },
    });
    expect((out['metadata'] as JsonObject)['annotations']).toEqual({ only: 'this' });
    expect((out['status'] as JsonObject)['conditions']).toHaveLength(2);
  });

  it('does not modify its inputs', () => {
    const n = node();
    const before = JSON.stringify(n);
    strategicMerge(n, { metadata: { annotations: { a: null } } });
    expect(JSON.stringify(n)).toBe(before);
  });
});

describe('JSON merge patch', () => {
  it('replaces status.conditions wholesale (why the daemon must not use it)', () => {
    const out = mergePatch(node(), { status: { conditions: [{ type: 'NetworkUnavailable', status: 'False' }] } });
    expect((out as JsonObject)['status']).toEqual({ conditions: [{ type: 'NetworkUnavailable', status: 'False' }] });
  });

  it('deletes keys patched to null', () => {
    const out = mergePatch(node(), { metadata: { annotations: { a: null } } }) as JsonObject;
    expect((out['metadata'] as JsonObject)['annotations']).toEqual({ b: '2' });
  });
});

describe('JSON patch', () => {
  it('applies add, replace, remove and test', () => {
    const out = jsonPatch(node(), [
      { op: 'test', path: '/metadata/name', value: 'n1' },
      { op: 'add', path: '/metadata/annotations/x~1y', value: 'v' },
      { op: 'replace', path: '/spec/podCIDR', value: '10.244.9.0/24' },
      { op: 'remove', path: '/metadata/labels' },
    ]);
    expect(out['metadata']).toEqual({ name: 'n1', annotations: { a: '1', b: '2', 'x/y': 'v' } });
    expect((out['spec'] as JsonObject)['podCIDR']).toBe('10.244.9.0/24');
  });

  it('rejects an object body as the API server does', () => {
    expect(() => jsonPatch(node(), { metadata: {} })).toThrow(/cannot unmarshal object/);
  });
});
