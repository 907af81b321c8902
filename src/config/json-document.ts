/**
 * A JSON reader that keeps every object key as written, duplicates included.
 *
 * `JSON.parse` keeps only the last of two equal keys, and Go's encoding/json (what upstream uses)
 * lets `"Network"` and `"network"` both land on one field, last one winning. Either way a config
 * with two spellings of a field silently means one of them; we want to see both and refuse.
 * Syntax is checked by `JSON.parse` first (its messages carry line and column), so this reader
 * only ever walks text already known to be valid JSON.
 */

export type JsonValue = null | boolean | number | string | readonly JsonValue[] | JsonObject;

/** A JSON object as its key/value pairs in document order. */
export class JsonObject {
  readonly entries: readonly (readonly [string, JsonValue])[];

  constructor(entries: readonly (readonly [string, JsonValue])[]) {
    this.entries = entries;
  }

  /** All entries whose key equals `name` ignoring ASCII case, as Go's encoding/json matches. */
  matching(name: string): (readonly [string, JsonValue])[] {
    const want = name.toLowerCase();
    return this.entries.filter(([k]) => k.toLowerCase() === want);
  }

  /** Lets error messages render the object as JSON. */
  toJSON(): Record<string, unknown> {
    return Object.fromEntries(this.entries);
  }
}

/** Parses JSON text; throws the `SyntaxError` of `JSON.parse` for invalid input. */
export function parseJsonDocument(text: string): JsonValue {
  JSON.parse(text);
  const reader = new ValidJsonReader(text);
  return reader.value();
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const WHITESPACE = /[ \t\n\r]*/y;

class ValidJsonReader {
  private readonly text: string;
  private pos = 0;

  constructor(text: string) {
    this.text = text;
  }

  value(): JsonValue {
    this.skipWhitespace();
    const c = this.text[this.pos];
    if (c === '{') return this.object();
    if (c === '[') return this.array();
    if (c === '"') return this.string();
    for (const [word, v] of LITERALS) {
      if (this.text.startsWith(word, this.pos)) {
        this.pos += word.length;
        return v;
      }
    }
    NUMBER.lastIndex = this.pos;
    const m = NUMBER.exec(this.text)!;
    this.pos += m[0].length;
    return Number(m[0]);
  }

  private object(): JsonObject {
    this.pos++; // {
    const entries: (readonly [string, JsonValue])[] = [];
    this.skipWhitespace();
    if (this.text[this.pos] === '}') {
      this.pos++;
      return new JsonObject(entries);
    }
    for (;;) {
      this.skipWhitespace();
      const key = this.string();
      this.skipWhitespace();
      this.pos++; // :
      entries.push([key, this.value()]);
      this.skipWhitespace();
      if (this.text[this.pos++] === '}') return new JsonObject(entries);
    }
  }

  private array(): JsonValue[] {
    this.pos++; // [
    const items: JsonValue[] = [];
    this.skipWhitespace();
    if (this.text[this.pos] === ']') {
      this.pos++;
      return items;
    }
    for (;;) {
      items.push(this.value());
      this.skipWhitespace();
      if (this.text[this.pos++] === ']') return items;
    }
  }

  private string(): string {
    const start = this.pos;
    let i = start + 1;
    while (this.text[i] !== '"') i += this.text[i] === '\\' ? 2 : 1;
    this.pos = i + 1;
    return JSON.parse(this.text.slice(start, this.pos)) as string;
  }

  private skipWhitespace(): void {
    WHITESPACE.lastIndex = this.pos;
    WHITESPACE.exec(this.text);
    this.pos = WHITESPACE.lastIndex;
  }
}

const LITERALS: readonly (readonly [string, JsonValue])[] = [
  ['true', true],
  ['false', false],
  ['null', null],
];
