// Builds the N-API addon from source with node-gyp, against Node headers found on this
// machine. Node-API and libuv 1.x are ABI-stable across Node majors, so headers of an older
// system Node (e.g. Debian's /usr/include/node) produce an addon that loads in Node 24.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = dirname(fileURLToPath(import.meta.url));

function findNodedir() {
  const candidates = [
    process.env.FLANNEL_NODEDIR,
    process.env.npm_config_nodedir,
    '/usr',
    '/usr/local',
    dirname(dirname(process.execPath)),
  ].filter(Boolean);
  for (const dir of candidates) {
    if (existsSync(join(dir, 'include/node/node_api.h')) && existsSync(join(dir, 'include/node/uv.h'))) return dir;
  }
  console.error(
    `native/build.mjs: no Node headers (include/node/node_api.h and uv.h) under ${candidates.join(', ')}.\n` +
      'Install them (Debian: apt-get install libnode-dev, or nodejs from the distribution) or set FLANNEL_NODEDIR.',
  );
  process.exit(1);
}

const nodedir = findNodedir();
const require = createRequire(import.meta.url);
const gyp = require.resolve('node-gyp/bin/node-gyp.js');
const r = spawnSync(process.execPath, [gyp, 'rebuild', `--nodedir=${nodedir}`, '--directory', here], {
  stdio: 'inherit',
  env: { ...process.env, npm_config_nodedir: nodedir },
});
if (r.status !== 0) {
  console.error(`native/build.mjs: node-gyp failed (exit ${r.status ?? r.signal}); see the compiler output above.`);
  process.exit(1);
}
