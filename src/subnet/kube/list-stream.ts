/**
 * Reads a Kubernetes list response (`{"kind":…,"metadata":{…},"items":[{…},{…}]}`) as it arrives,
 * handing each element of the top-level `items` array to the caller as soon as its last byte is
 * in, so the caller keeps what it needs and the rest is garbage at once. A 5000-node list is
 * ~20 MB of JSON (more with real kubelet status); reading it whole and parsing it in one go costs
 * the text, the full object tree and the caller's copy at the same time, and V8 keeps that peak
 * as resident memory long after. Everything outside `items` (kind, metadata.resourceVersion …) is
 * parsed as one small object at the end.
 *
 * The scanner only tracks nesting depth and string state over bytes; JSON.parse does the real
 * parsing of each element, so malformed input fails the same way it would when parsed whole.
 */

const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

export class ListStreamParser {
  private readonly onItem: (item: unknown) => void;
  /** Nesting depth before the byte being read: 0 outside the list object, 1 directly inside it. */
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** True between the `[` and `]` of the top-level `items` array. */
  private inItems = false;
  /** The last string that ended at depth 1: the key when a value follows. */
  private lastKey = '';
  /** Pieces of the string being read at depth 1 (a key or a string value), else undefined. */
  private keyBytes: Uint8Array[] | undefined;
  /** Bytes of the item being read (depth ≥ 3 inside items), and of everything outside items. */
  private item: Uint8Array[] = [];
  private readonly skeleton: Uint8Array[] = [];

  constructor(onItem: (item: unknown) => void) {
    this.onItem = onItem;
  }

  /** Feeds the next chunk of the response body. */
  push(chunk: Uint8Array): void {
    // The state lives in locals for the loop (V8 keeps them in registers) and is stored back at
    // the end; strings are skipped with indexOf.
    let depth = this.depth;
    let inString = this.inString;
    let escaped = this.escaped;
    let inItems = this.inItems;
    let itemStart = inItems && depth >= 3 ? 0 : -1; // where the current item's bytes start in this chunk
    let skelStart = inItems ? -1 : 0; // where the current run of skeleton bytes starts; between items nothing is kept
    let keyStart = this.keyBytes !== undefined ? 0 : -1;
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      if (inString) {
        // Jump to the closing quote: strings are most of the bytes, indexOf is native.
        if (escaped) {
          escaped = false;
          i++;
        }
        let end = -1;
        for (;;) {
          const q = chunk.indexOf(QUOTE, i);
          const stop = q < 0 ? n : q;
          let k = stop - 1;
          while (k >= i && chunk[k] === BACKSLASH) k--;
          const oddBackslashes = (stop - 1 - k) % 2 === 1;
          if (q < 0) {
            escaped = oddBackslashes; // the next chunk starts with the escaped byte
            break;
          }
          if (!oddBackslashes) {
            end = q;
            break;
          }
          i = q + 1; // an escaped quote
        }
        if (end < 0) {
          i = n;
          break;
        }
        inString = false;
        if (keyStart >= 0) {
          this.keyBytes!.push(chunk.subarray(keyStart, end));
          this.lastKey = Buffer.concat(this.keyBytes!).toString('utf8');
          this.keyBytes = undefined;
          keyStart = -1;
        }
        i = end + 1;
        continue;
      }
      const c = chunk[i]!;
      if (c === QUOTE) {
        inString = true;
        if (depth === 1) {
          this.keyBytes = [];
          keyStart = i + 1;
        }
      } else if (c === LBRACE || c === LBRACKET) {
        if (inItems && depth === 2) {
          itemStart = i; // an item begins
        } else if (!inItems && depth === 1 && c === LBRACKET && this.lastKey === 'items') {
          // keep the `[` in the skeleton, then stop copying until the closing `]`
          inItems = true;
          this.skeleton.push(chunk.subarray(skelStart, i + 1));
          skelStart = -1;
        }
        depth++;
      } else if (c === RBRACE || c === RBRACKET) {
        depth--;
        if (inItems && depth === 2) {
          this.item.push(chunk.subarray(itemStart, i + 1));
          itemStart = -1;
          this.emitItem();
        } else if (inItems && depth === 1) {
          inItems = false; // the `]` of items starts the next skeleton run
          skelStart = i;
        }
      }
      i++;
    }
    if (itemStart >= 0) this.item.push(chunk.subarray(itemStart));
    if (skelStart >= 0) this.skeleton.push(chunk.subarray(skelStart));
    if (keyStart >= 0) this.keyBytes!.push(chunk.subarray(keyStart));
    this.depth = depth;
    this.inString = inString;
    this.escaped = escaped;
    this.inItems = inItems;
  }

  /** After the last chunk: the list object with an empty `items`. */
  end(): Record<string, unknown> {
    if (this.depth !== 0 || this.inString) throw new SyntaxError('the list response ended in the middle of the JSON document');
    const text = Buffer.concat(this.skeleton).toString('utf8');
    const obj = JSON.parse(text) as unknown;
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw new SyntaxError('the list response is not a JSON object');
    return obj as Record<string, unknown>;
  }

  private emitItem(): void {
    const bytes = this.item.length === 1 ? this.item[0]! : Buffer.concat(this.item);
    this.item = [];
    // Chunks are the caller's buffers and may be reused; the item is decoded before returning.
    this.onItem(JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')) as unknown);
  }
}
