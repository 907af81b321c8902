import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pkg from '../../package.json' with { type: 'json' };

// Runs scripts/build-image.sh into a temp dir: the image's file tree without Docker.
const root = fileURLToPath(new URL('../..', import.meta.url));
// The bundle's behaviour with a running daemon is tested in the lab (test/lab/image-bundle.test.ts).
const entry = join(root, 'src/cli/flanneld.ts');
const node = join(root, 'node_modules/.bin/node');
let out: string;

beforeAll(async () => {
  out = await mkdtemp(join(tmpdir(), 'flannel-image-'));
  const r = spawnSync(join(root, 'scripts/build-image.sh'), ['--out', out, '--entry', entry], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`build-image.sh failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
}, 180_000);
afterAll(async () => {
  if (out !== undefined) await rm(out, { recursive: true, force: true });
});

const run = (cmd: string, args: string[]) =>
  spawnSync(join(out, cmd), args, { encoding: 'utf8', env: { ...process.env, FLANNEL_NODE: node, FLANNEL_NATIVE_ADDON: '' } });

describe('scripts/build-image.sh', () => {
  it('lays out the image tree the Dockerfile and the manifest expect', async () => {
    for (const f of ['opt/bin/flanneld', 'opt/bin/install-conf']) {
      expect((await stat(join(out, f))).mode & 0o777).toBe(0o755);
    }
    for (const f of ['flanneld.mjs', 'install-conf.mjs', 'flannel_native.node']) {
      expect((await stat(join(out, 'opt/flannel-ts', f))).isFile()).toBe(true);
    }
  });

  it('ships no source maps; they go to debug/, outside the image tree', async () => {
    const files = (await readdir(join(out, 'opt'), { recursive: true })).map(String);
    expect(files.filter((f) => f.endsWith('.map'))).toEqual([]);
    for (const f of files.filter((f) => f.endsWith('.mjs'))) expect(await readFile(join(out, 'opt', f), 'utf8')).not.toContain('sourceMappingURL');
    expect((await readdir(join(out, 'debug'))).filter((f) => f.endsWith('.map')).sort()).toEqual(['flanneld.mjs.map', 'install-conf.mjs.map']);
  });

  it('ships our LICENSE and the licence text of every package the bundles contain', async () => {
    expect(await readFile(join(out, 'opt/flannel-ts/LICENSE'), 'utf8')).toBe(await readFile(join(root, 'LICENSE'), 'utf8'));
    expect(await readFile(join(root, 'LICENSE'), 'utf8')).toContain('Apache License\n                           Version 2.0, January 2004');
    const notice = await readFile(join(out, 'opt/flannel-ts/THIRD-PARTY-LICENSES'), 'utf8');
    // Every package with a file in either bundle, from esbuild's own record of the inputs.
    const metas = await Promise.all(['flanneld.mjs', 'install-conf.mjs'].map(async (b) => JSON.parse(await readFile(join(out, 'debug', `${b}.meta.json`), 'utf8')) as { inputs: Record<string, unknown> }));
    const bundled = new Set(metas.flatMap((m) => Object.keys(m.inputs)).flatMap((i) => {
      const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(i.replace(/.*node_modules\/(?=.*node_modules\/)/, 'node_modules/'));
      return m === null ? [] : [m[1]!];
    }));
    for (const dep of ['@kubernetes/client-node', 'pino', 'prom-client']) expect(bundled).toContain(dep);
    const sections = new Map([...notice.matchAll(/^={78}\n((?:@[^/@]+\/)?[^@\n]+)@(\S+) \(([^)\n]*)\)\n={78}\n\n([\s\S]*?)(?=\n={78}\n|(?![\s\S]))/gm)].map((m) => [m[1]!, m[4]!]));
    expect([...bundled].filter((p) => !sections.has(p))).toEqual([]);
    expect([...sections.keys()].filter((p) => !bundled.has(p))).toEqual([]);
    for (const [name, text] of sections) expect(text, name).toMatch(/licen[cs]e|permission is hereby granted/i);
  });

  it('bundles every dependency: nothing is loaded from node_modules at run time', async () => {
    const bundle = await readFile(join(out, 'opt/flannel-ts/flanneld.mjs'), 'utf8');
    expect(bundle).not.toMatch(/from ["'](@kubernetes\/client-node|prom-client|pino)["']/);
    expect(bundle).not.toMatch(/require\(["'](@kubernetes\/client-node|prom-client|pino)["']\)/);
  });

  it('runs flanneld --version from the tree', () => {
    const r = run('opt/bin/flanneld', ['--version']);
    expect(r.status).toBe(0);
    expect(r.stdout + r.stderr).toContain(pkg.version);
  });

  it('install-conf copies atomically from the tree', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'install-conf-img-'));
    try {
      await writeFile(join(dir, 'cni-conf.json'), '{}', { mode: 0o644 });
      const r = run('opt/bin/install-conf', [join(dir, 'cni-conf.json'), join(dir, '10-flannel.conflist')]);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(await readFile(join(dir, '10-flannel.conflist'), 'utf8')).toBe('{}');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a missing entry point with a message that says what to do', () => {
    const r = spawnSync(join(root, 'scripts/build-image.sh'), ['--out', join(out, 'x'), '--entry', 'src/nope.ts'], { cwd: root, encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('build-image.sh: entry point src/nope.ts does not exist (set --entry or FLANNEL_ENTRY)\n');
  });
});

describe('Dockerfile', () => {
  it('builds with the script and runs the launcher on a slim Node 24 base pinned by digest', async () => {
    const df = await readFile(join(root, 'Dockerfile'), 'utf8');
    const froms = [...df.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]);
    expect(froms).toEqual(['${NODE_IMAGE}', '${NODE_IMAGE}']);
    expect(df).toMatch(/^ARG NODE_IMAGE=node:24-bookworm-slim@sha256:[0-9a-f]{64}$/m);
    expect(df).toMatch(/^RUN npm ci\b/m);
    expect(df).toMatch(/^RUN scripts\/build-image\.sh --out \/out$/m);
    // Only opt/: the source maps and metafiles in /out/debug stay in the build stage.
    expect([...df.matchAll(/^COPY --from=build (.*)$/gm)].map((m) => m[1])).toEqual(['/out/opt/ /opt/']);
    // iproute2 for operators; Debian's iptables ships both backends (iptables-legacy-*, iptables-nft-*).
    expect(df).toContain('apt-get install -y --no-install-recommends iproute2 iptables nftables \\');
    expect(df).toMatch(/^ENTRYPOINT \["\/opt\/bin\/flanneld"\]$/m);
    // Everything the build script reads is copied in.
    for (const f of ['scripts/third-party-licenses.mjs', 'LICENSE']) expect(df).toContain(f.split('/').at(-1));
  });
});
