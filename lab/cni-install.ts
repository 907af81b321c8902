/**
 * Per-node CNI directories, as kube-flannel's init containers leave them on a real node:
 * net.d/10-flannel.conflist (the manifest's cni-conf.json) and bin/ with flannel (the lab's
 * stand-in, cni-flannel-plugin.ts), bridge, host-local and portmap (the reference plugins). The
 * lab's namespaces share this machine's /etc and /opt, so each node gets its own copy under the
 * run directory; `flanneld doctor` is pointed there with --cni-conf-dir / --cni-bin-dir.
 */
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CNI_PATH } from './cni.ts';
import { nodeBinary, REPO_ROOT } from './paths.ts';

export interface NodeCniDirs {
  readonly confDir: string;
  readonly binDir: string;
}

/** The manifest's cni-conf.json (deploy/kube-flannel.yml), as install-cni writes it. */
export const FLANNEL_CONFLIST = `{
  "name": "cbr0",
  "cniVersion": "0.3.1",
  "plugins": [
    {
      "type": "flannel",
      "delegate": {
        "hairpinMode": true,
        "isDefaultGateway": true
      }
    },
    {
      "type": "portmap",
      "capabilities": {
        "portMappings": true
      }
    }
  ]
}
`;

export function nodeCniDirs(nodeDir: string): NodeCniDirs {
  return { confDir: join(nodeDir, 'cni', 'net.d'), binDir: join(nodeDir, 'cni', 'bin') };
}

export function installCni(nodeDir: string): NodeCniDirs {
  const dirs = nodeCniDirs(nodeDir);
  mkdirSync(dirs.confDir, { recursive: true });
  mkdirSync(dirs.binDir, { recursive: true });
  writeFileSync(join(dirs.confDir, '10-flannel.conflist'), FLANNEL_CONFLIST, { mode: 0o644 });
  for (const p of ['bridge', 'host-local', 'portmap']) symlinkSync(join(CNI_PATH, p), join(dirs.binDir, p));
  const flannel = join(dirs.binDir, 'flannel');
  writeFileSync(flannel, `#!/bin/sh\nexec ${nodeBinary()} ${REPO_ROOT}lab/cni-flannel-plugin.ts "$@"\n`);
  chmodSync(flannel, 0o755);
  return dirs;
}
