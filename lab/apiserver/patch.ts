/**
 * The three patch formats the Kubernetes API server accepts for built-in types, applied to plain
 * JSON. Strategic merge knows only the list fields of Node and Pod the daemon touches (see
 * MERGE_LISTS); every other list is replaced, as the server does for lists without a patch
 * strategy.
 */

export type Json = null | boolean | number | string | Json[] | JsonObject;
export interface JsonObject {
  [key: string]: Json;
}

/** A failed patch; the server answers it with a Status of this code and reason. */
export class PatchError extends Error {
  readonly code: number;
  readonly reason: string;
  constructor(code: number, reason: string, message: string) {
    super(message);
    this.name = 'PatchError';
    this.code = code;
    this.reason = reason;
  }
}

export function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A deep copy through JSON, so stored objects never alias a caller's. */
export function clone<T extends Json>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

/**
 * List fields with `patchStrategy:"merge"` in core/v1 (Node, Pod), by dotted path. A string is the
 * patchMergeKey; null marks a list of scalars merged as a set (spec.podCIDRs, finalizers).
 */
export const MERGE_LISTS: ReadonlyMap<string, string | null> = new Map<string, string | null>([
  ['status.conditions', 'type'],
  ['status.addresses', 'type'],
  ['metadata.ownerReferences', 'uid'],
  ['metadata.finalizers', null],
  ['spec.podCIDRs', null],
  ['spec.containers', 'name'],
  ['spec.volumes', 'name'],
]);

/** RFC 7386 JSON merge patch (`application/merge-patch+json`): objects merge, null deletes, lists replace. */
export function mergePatch(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  const out: JsonObject = isObject(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/**
 * Strategic merge patch (`application/strategic-merge-patch+json`) as the API server applies it
 * to core types: maps merge recursively and `null` deletes a key; lists listed in MERGE_LISTS merge
 * element-wise by their key (a matching element is itself merged, so other fields survive), and an
 * element `{"$patch":"delete", <key>: v}` removes one; `$patch: replace` on a map replaces it.
 * `$setElementOrder/…` and `$retainKeys` are accepted and ignored (order is the original's, new
 * elements appended). `$deleteFromPrimitiveList/<field>` removes scalars from a set list.
 */
export function strategicMerge(target: JsonObject, patch: JsonObject, path = ''): JsonObject {
  if (patch['$patch'] === 'replace') {
    const copy = clone(patch);
    delete copy['$patch'];
    return copy;
  }
  const out = clone(target);
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k === '$retainKeys' || k.startsWith('$setElementOrder/')) continue;
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const field = k.slice('$deleteFromPrimitiveList/'.length);
      const list = out[field];
      if (Array.isArray(list) && Array.isArray(v)) out[field] = list.filter((x) => !v.includes(x));
      continue;
    }
    const childPath = path === '' ? k : `${path}.${k}`;
    if (v === null) {
      delete out[k];
    } else if (isObject(v)) {
      if (v['$patch'] === 'delete') delete out[k];
      else out[k] = strategicMerge(isObject(out[k]) ? out[k] : {}, v, childPath);
    } else if (Array.isArray(v) && MERGE_LISTS.has(childPath)) {
      out[k] = mergeList(Array.isArray(out[k]) ? out[k] : [], v, MERGE_LISTS.get(childPath) ?? null, childPath);
    } else {
      out[k] = clone(v);
    }
  }
  return out;
}

function mergeList(original: Json[], patch: Json[], mergeKey: string | null, path: string): Json[] {
  const out = clone(original);
  if (mergeKey === null) {
    for (const item of patch) if (!out.includes(item)) out.push(clone(item));
    return out;
  }
  for (const item of patch) {
    if (!isObject(item) || !(mergeKey in item)) {
      throw new PatchError(422, 'Invalid', `${path}: map: ${JSON.stringify(item)} does not contain declared merge key: ${mergeKey}`);
    }
    const at = out.findIndex((e) => isObject(e) && e[mergeKey] === item[mergeKey]);
    if (item['$patch'] === 'delete') {
      if (at >= 0) out.splice(at, 1);
    } else if (at >= 0) {
      out[at] = strategicMerge(out[at] as JsonObject, item, path);
    } else {
      const fresh = clone(item);
      delete fresh['$patch'];
      out.push(fresh);
    }
  }
  return out;
}

/** RFC 6902 JSON patch (`application/json-patch+json`): add, remove, replace, test. */
export function jsonPatch(target: JsonObject, ops: Json): JsonObject {
  if (!Array.isArray(ops)) {
    throw new PatchError(400, 'BadRequest', 'json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  }
  let doc: Json = clone(target);
  for (const op of ops) {
    if (!isObject(op) || typeof op['op'] !== 'string' || typeof op['path'] !== 'string') {
      throw new PatchError(422, 'Invalid', `invalid JSON patch operation: ${JSON.stringify(op)}`);
    }
    doc = applyOp(doc, op['op'], op['path'], op['value']);
  }
  if (!isObject(doc)) throw new PatchError(422, 'Invalid', 'JSON patch replaced the whole object with a non-object');
  return doc;
}

function applyOp(doc: Json, op: string, pointer: string, value: Json | undefined): Json {
  const parts = pointer.split('/').slice(1).map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'));
  if (parts.length === 0) {
    if (op === 'add' || op === 'replace') return clone(value ?? null);
    throw new PatchError(422, 'Invalid', `unsupported JSON patch op ${op} on the root`);
  }
  let parent: Json = doc;
  for (const p of parts.slice(0, -1)) {
    const next: Json | undefined = Array.isArray(parent) ? parent[Number(p)] : isObject(parent) ? parent[p] : undefined;
    if (next === undefined) throw new PatchError(422, 'Invalid', `doc is missing path: "${pointer}"`);
    parent = next;
  }
  const last = parts[parts.length - 1]!;
  if (Array.isArray(parent)) {
    const i = last === '-' ? parent.length : Number(last);
    if (op === 'add') parent.splice(i, 0, clone(value ?? null));
    else if (op === 'remove') parent.splice(i, 1);
    else if (op === 'replace') parent[i] = clone(value ?? null);
    else if (op === 'test') {
      if (JSON.stringify(parent[i]) !== JSON.stringify(value)) throw new PatchError(422, 'Invalid', `testing value ${pointer} failed`);
    } else throw new PatchError(422, 'Invalid', `unsupported JSON patch op ${op}`);
    return doc;
  }
  if (!isObject(parent)) throw new PatchError(422, 'Invalid', `doc is missing path: "${pointer}"`);
  if (op === 'add') parent[last] = clone(value ?? null);
  else if (op === 'replace' || op === 'remove') {
    if (!(last in parent)) throw new PatchError(422, 'Invalid', `doc is missing key: ${pointer}`);
    if (op === 'replace') parent[last] = clone(value ?? null);
    else delete parent[last];
  } else if (op === 'test') {
    if (JSON.stringify(parent[last]) !== JSON.stringify(value)) throw new PatchError(422, 'Invalid', `testing value ${pointer} failed`);
  } else throw new PatchError(422, 'Invalid', `unsupported JSON patch op ${op}`);
  return doc;
}
