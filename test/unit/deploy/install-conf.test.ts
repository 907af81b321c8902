import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { installConf, main } from '../../../src/deploy/install-conf.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'install-conf-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('installConf', () => {
  it('copies the bytes and the mode, leaving no temp file', async () => {
    const src = join(dir, 'cni-conf.json');
    const dst = join(dir, '10-flannel.conflist');
    await writeFile(src, '{"name":"cbr0"}\n');
    await chmod(src, 0o640);
    await installConf(src, dst);
    expect(await readFile(dst, 'utf8')).toBe('{"name":"cbr0"}\n');
    expect((await stat(dst)).mode & 0o7777).toBe(0o640);
    expect(await readdir(dir)).toEqual(['10-flannel.conflist', 'cni-conf.json'].sort());
  });

  it('replaces an existing target by rename (a reader holding the old inode keeps the old bytes)', async () => {
    const src = join(dir, 'src');
    const dst = join(dir, 'dst');
    await writeFile(dst, 'old');
    await chmod(dst, 0o600);
    const before = (await stat(dst)).ino;
    await writeFile(src, 'new');
    await chmod(src, 0o644);
    await installConf(src, dst);
    const after = await stat(dst);
    expect(after.ino).not.toBe(before);
    expect(after.mode & 0o7777).toBe(0o644);
    expect(await readFile(dst, 'utf8')).toBe('new');
  });

  it('follows a ConfigMap-style symlinked source (..data/cni-conf.json)', async () => {
    await writeFile(join(dir, 'real'), 'x');
    await symlink(join(dir, 'real'), join(dir, 'link'));
    await installConf(join(dir, 'link'), join(dir, 'out'));
    expect(await readFile(join(dir, 'out'), 'utf8')).toBe('x');
    expect((await stat(join(dir, 'out'))).isFile()).toBe(true);
  });

  it('fails naming both files, leaves the target and no temp file behind', async () => {
    await writeFile(join(dir, 'dst'), 'keep');
    const errors: string[] = [];
    const write = process.stderr.write;
    process.stderr.write = ((s: string) => (errors.push(s), true)) as typeof process.stderr.write;
    try {
      expect(await main([join(dir, 'missing'), join(dir, 'dst')])).toBe(1);
      expect(await main(['only-one'])).toBe(1);
    } finally {
      process.stderr.write = write;
    }
    expect(errors[0]).toBe(`install-conf: cannot copy ${join(dir, 'missing')} to ${join(dir, 'dst')}: ENOENT: no such file or directory, open '${join(dir, 'missing')}'\n`);
    expect(errors[1]).toMatch(/^usage: install-conf <src> <dst>/);
    expect(await readFile(join(dir, 'dst'), 'utf8')).toBe('keep');
    expect(await readdir(dir)).toEqual(['dst']);
  });

  it('runs as a command', async () => {
    const src = join(dir, 's');
    await writeFile(src, 'cmd');
    const entry = new URL('../../../src/deploy/install-conf-main.ts', import.meta.url).pathname;
    const r = spawnSync(process.execPath, [entry, src, join(dir, 'd')], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(await readFile(join(dir, 'd'), 'utf8')).toBe('cmd');
  });
});
