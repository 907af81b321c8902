/**
 * klog's file:line is the line of the log call, as V8 reports it where no transform runs (Node
 * strips the types in place, and the image's bundle is not transformed again at run time).
 */
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');

describe('klog call sites', () => {
  it('name the file and line of each log call, also one frame deeper', () => {
    const out = execFileSync(join(ROOT, 'node_modules/.bin/node'), [join(ROOT, 'test/observe/fixtures/klog-caller.ts')], { encoding: 'utf8' });
    const sites = out.trim().split('\n').map((l) => / (\S+:\d+)\] (.*)$/.exec(l)?.slice(1).join(' '));
    expect(sites).toEqual(['klog-caller.ts:5 from line 5', 'klog-caller.ts:7 from line 7 peers=2']);
  });
});
