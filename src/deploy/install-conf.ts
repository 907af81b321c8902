import { open } from 'node:fs/promises';
import { writeFileAtomic } from '../util/atomic-write.ts';
import { errorText } from '../util/errors.ts';

/*
 * install-conf <src> <dst>: the DaemonSet's install-cni init container copies the CNI config
 * from the ConfigMap to /etc/cni/net.d with it (upstream's kube-flannel.yml runs `cp -f` there).
 * The copy is atomic, so the kubelet's CNI watcher or a container runtime reading the directory
 * sees either the old file or the new one, never a half-written file; it keeps the source's mode.
 */

export async function installConf(src: string, dst: string): Promise<void> {
  // One open: the content and the mode are of the same file, and a missing source fails at the
  // open, always with the same message (two calls in parallel raced to report first).
  const fh = await open(src, 'r');
  let data: Buffer;
  let mode: number;
  try {
    [data, mode] = await Promise.all([fh.readFile(), fh.stat().then((s) => s.mode & 0o7777)]);
  } finally {
    await fh.close();
  }
  // The source's mode, not the umask's: the kubelet and runtimes read the file as it was shipped.
  await writeFileAtomic(dst, data, mode);
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
