/**
 * A stand-in for flannel's CNI plugin binary (flannel-io/cni-plugin), for the lab's /opt/cni/bin
 * (the real one is a Go binary the lab machine does not have). It honours the same contract the
 * lab already attaches pods with (cni.ts): read the flannel netconf on stdin and subnet.env,
 * build the delegate exactly as the plugin's doCmdAdd does (cni-delegate.ts), save it by
 * container id, and run the delegated plugin from CNI_PATH with the same environment.
 *   flannel (invoked by a runtime with CNI_COMMAND=ADD|DEL|CHECK|VERSION)
 * Test tooling only.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { flannelDelegateConfig, type FlannelNetConf, type JsonObject } from './cni-delegate.ts';
import { parseFlannelSubnetEnv } from './subnet-env.ts';

const SUPPORTED = ['0.3.0', '0.3.1', '0.4.0', '1.0.0'];

function main(): number {
  const command = process.env['CNI_COMMAND'] ?? '';
  const input = readFileSync(0, 'utf8');
  if (command === 'VERSION') {
    process.stdout.write(JSON.stringify({ cniVersion: '1.0.0', supportedVersions: SUPPORTED }));
    return 0;
  }
  const conf = JSON.parse(input) as FlannelNetConf & { subnetFile?: string; dataDir?: string };
  const dataDir = conf.dataDir ?? '/var/lib/cni/flannel';
  const id = process.env['CNI_CONTAINERID'] ?? '';
  const saved = join(dataDir, id);
  let delegate: JsonObject;
  if (command === 'ADD') {
    const env = parseFlannelSubnetEnv(readFileSync(conf.subnetFile ?? '/run/flannel/subnet.env', 'utf8'));
    delegate = flannelDelegateConfig(conf, env);
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    writeFileSync(saved, JSON.stringify(delegate), { mode: 0o600 });
  } else {
    try {
      delegate = JSON.parse(readFileSync(saved, 'utf8')) as JsonObject;
    } catch {
      return 0; // DEL of a container never added: already gone
    }
  }
  const dirs = (process.env['CNI_PATH'] ?? '').split(':').filter((d) => d !== '');
  const type = String(delegate['type']);
  let last = 1;
  for (const dir of dirs) {
    const r = spawnSync(join(dir, type), { input: JSON.stringify(delegate), stdio: ['pipe', 'inherit', 'inherit'] });
    if (r.error !== undefined && (r.error as NodeJS.ErrnoException).code === 'ENOENT') continue;
    last = r.status ?? 1;
    break;
  }
  if (command === 'DEL' && last === 0) rmSync(saved, { force: true });
  return last;
}

process.exitCode = main();
