import { open, rename, rm, stat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { errorText } from '../util/errors.ts';

/*
 * install-conf <src> <dst>: the DaemonSet's install-cni init container copies the CNI config
 * from the ConfigMap to /etc/cni/net.d with it (§10). The copy is atomic: the kubelet's CNI
 * watcher or a container runtime reading the directory sees either the old file or the new
 * one, never a half-written file. Writes a temp file `.<name>.tmp<random>` beside the target
 * (same filesystem, so rename is atomic), gives it the source's mode, flushes it to disk,
 * renames it over the target, then flushes the directory so the rename survives a crash.
 */

export async function installConf(src: string, dst: string): Promise<void> {
  const [data, mode] = await Promise.all([readAll(src), stat(src).then((s) => s.mode & 0o7777)]);
  const tmp = join(dirname(dst), `.${basename(dst)}.tmp${randomBytes(6).toString('hex')}`);
  try {
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(data);
      // The umask must not narrow the source's mode, so set it explicitly.
      await fh.chmod(mode);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, dst);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await syncDir(dirname(dst));
}

async function readAll(path: string): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** The command line: exit 0 on success, 1 with a message naming the files otherwise. */
export async function main(argv: readonly string[]): Promise<number> {
  if (argv.length !== 2) {
    process.stderr.write('usage: install-conf <src> <dst>\n  atomically copies src to dst (temp file + rename), keeping src\'s mode\n');
    return 1;
  }
  const [src, dst] = argv as [string, string];
  try {
    await installConf(src, dst);
    return 0;
  } catch (err) {
    process.stderr.write(`install-conf: cannot copy ${src} to ${dst}: ${errorText(err)}\n`);
    return 1;
  }
}
