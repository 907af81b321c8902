/** A kernel object we want, tagged with the peer it serves (for per-peer failure reports). */
export interface ForPeer<T> {
  readonly subnet: string;
  readonly node: string | undefined;
  readonly obj: T;
}

/**
 * The pure half of every reconcile: what must change so that `have` becomes `want`.
 * Keys identify a kernel object the way the kernel does (a route by table+dst+metric, a
 * neighbour by ip, an fdb entry by mac+dst); `same` compares the fields we set.
 */
export interface KeyedDiff<W, H> {
  /** Wanted and absent. */
  readonly create: W[];
  /** Wanted and present with other contents: [want, have]. */
  readonly replace: [W, H][];
  /** Present and not wanted. */
  readonly remove: H[];
  readonly unchanged: number;
}

export function diffKeyed<W, H>(
  want: ReadonlyMap<string, W>,
  have: ReadonlyMap<string, H>,
  same: (w: W, h: H) => boolean,
): KeyedDiff<W, H> {
  const create: W[] = [];
  const replace: [W, H][] = [];
  const remove: H[] = [];
  let unchanged = 0;
  for (const [k, w] of want) {
    const h = have.get(k);
    if (h === undefined) create.push(w);
    else if (same(w, h)) unchanged++;
    else replace.push([w, h]);
  }
  for (const [k, h] of have) if (!want.has(k)) remove.push(h);
  return { create, replace, remove, unchanged };
}
