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

/** stringEnd's answers when the chunk ends inside the string. */
const OPEN = -1;
/** …and the chunk's last byte is a backslash that escapes the next chunk's first byte. */
const OPEN_ESCAPED = -2;

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
  // Where, in the chunk being read, the current item's bytes, the current run of skeleton bytes
  // and the current depth-1 string start; -1 when none does.
  private itemStart = -1;
  private skelStart = -1;
  private keyStart = -1;

  constructor(onItem: (item: unknown) => void) {
    this.onItem = onItem;
  }

  /** Feeds the next chunk of the response body. */
  push(chunk: Uint8Array): void {
    this.itemStart = this.inItems && this.depth >= 3 ? 0 : -1;
    this.skelStart = this.inItems ? -1 : 0; // between items nothing is kept
    this.keyStart = this.keyBytes !== undefined ? 0 : -1;
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      if (this.inString) {
        i = this.readString(chunk, i);
      } else {
        this.readStructure(chunk, i);
        i++;
      }
    }
    // What continues into the next chunk.
    if (this.itemStart >= 0) this.item.push(chunk.subarray(this.itemStart));
    if (this.skelStart >= 0) this.skeleton.push(chunk.subarray(this.skelStart));
    if (this.keyStart >= 0) this.keyBytes!.push(chunk.subarray(this.keyStart));
  }

  /** Inside a string from `i`: skips to its end (or the chunk's); returns where reading goes on. */
  private readString(chunk: Uint8Array, i: number): number {
    const end = stringEnd(chunk, this.escaped ? i + 1 : i);
    this.escaped = end === OPEN_ESCAPED;
    if (end < 0) return chunk.length;
    this.inString = false;
    if (this.keyStart >= 0) {
      this.keyBytes!.push(chunk.subarray(this.keyStart, end));
      this.lastKey = Buffer.concat(this.keyBytes!).toString('utf8');
      this.keyBytes = undefined;
      this.keyStart = -1;
    }
    return end + 1;
  }

  /** One byte outside strings: a string's start, or a bracket that opens or closes an item or `items`. */
  private readStructure(chunk: Uint8Array, i: number): void {
    const c = chunk[i]!;
    if (c === QUOTE) {
      this.inString = true;
      if (this.depth === 1) {
        this.keyBytes = [];
        this.keyStart = i + 1;
      }
    } else if (c === LBRACE || c === LBRACKET) {
      if (this.inItems && this.depth === 2) {
        this.itemStart = i; // an item begins
      } else if (!this.inItems && this.depth === 1 && c === LBRACKET && this.lastKey === 'items') {
        // keep the `[` in the skeleton, then stop copying until the closing `]`
        this.inItems = true;
        this.skeleton.push(chunk.subarray(this.skelStart, i + 1));
        this.skelStart = -1;
      }
      this.depth++;
    } else if (c === RBRACE || c === RBRACKET) {
      this.depth--;
      if (this.inItems && this.depth === 2) {
        this.item.push(chunk.subarray(this.itemStart, i + 1));
        this.itemStart = -1;
        this.emitItem();
      } else if (this.inItems && this.depth === 1) {
        this.inItems = false; // the `]` of items starts the next skeleton run
        this.skelStart = i;
      }
    }
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

/**
 * The index of the quote that closes the string being read from `from`, or OPEN / OPEN_ESCAPED
 * when the chunk ends first. Strings are most of the bytes, so this jumps from quote to quote
 * with indexOf (native) and only looks back over the backslashes before each one.
 */
function stringEnd(chunk: Uint8Array, from: number): number {
  let i = from;
  for (;;) {
    const q = chunk.indexOf(QUOTE, i);
    const stop = q < 0 ? chunk.length : q;
    let k = stop - 1;
    while (k >= i && chunk[k] === BACKSLASH) k--;
    const oddBackslashes = (stop - 1 - k) % 2 === 1;
    if (q < 0) return oddBackslashes ? OPEN_ESCAPED : OPEN;
    if (!oddBackslashes) return q;
    i = q + 1; // an escaped quote
  }
}
