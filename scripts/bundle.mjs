// Bundles one entry point for the image (called by scripts/build-image.sh):
//   node scripts/bundle.mjs <entry.ts> <out.mjs> [<metafile.json>]
// The source map goes beside the bundle as <out>.map with no sourceMappingURL comment, so the
// build script can keep it out of the runtime image; the metafile lists every bundled input
// (scripts/third-party-licenses.mjs reads it).
// An ESM bundle for Node 24 with every dependency inside. Measured choices
// (bench/daemon-footprint.ts):
// - code splitting: a dynamic import (the Kubernetes client, loaded once the config is read)
//   becomes its own ES module file under chunks/ instead of a lazy-init wrapper inside the
//   bundle; esbuild cannot tree-shake inside such wrappers, so without splitting all of
//   client-node's generated models stay in;
// - client-node's generated code (dist/gen: every model and API of Kubernetes) is declared free
//   of side effects, so tree-shaking keeps only what KubeConfig reaches (the package declares
//   nothing, so esbuild would keep all of it);
// - undici (imported by client-node's KubeConfig for a code path flannel-ts never takes),
//   prom-client's Pushgateway (node:https, tls, zlib) and pino's transport (thread-stream) are
//   replaced by stubs that throw: see STUBS and scripts/bundle-stubs/;
// - some CommonJS dependencies call require() for Node built-ins, which an ES module lacks, so
//   the banner provides one;
// - the output is ASCII: esbuild escapes non-ASCII characters in code but keeps comments as they
//   are, and one `→` in a comment makes V8 hold the whole 0.6 MB source as a two-byte string
//   (1.1 MB of heap for the life of the process). Such characters, in comments only, become one
//   ASCII character each, so columns in the source map stay right.
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const [entry, outfile, metafileOut] = process.argv.slice(2);
if (!entry || !outfile) {
  process.stderr.write('usage: node scripts/bundle.mjs <entry> <outfile>\n');
  process.exit(2);
}

const RESOLVING = Symbol('resolving');
const CLIENT_NODE = /[/\\]@kubernetes[/\\]client-node[/\\]dist[/\\]/;
const CLIENT_NODE_GEN = /[/\\]@kubernetes[/\\]client-node[/\\]dist[/\\]gen[/\\]/;

/** Marks client-node's dist/gen modules side-effect free (they only declare classes and constants). */
const clientNodeGenPure = {
  name: 'client-node-gen-pure',
  setup(b) {
    b.onResolve({ filter: /.*/ }, async (args) => {
      if (args.pluginData === RESOLVING || !CLIENT_NODE.test(args.importer)) return undefined;
      const r = await b.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: RESOLVING });
      if (r.errors.length > 0) return { errors: r.errors };
      if (!CLIENT_NODE_GEN.test(r.path)) return undefined;
      return { path: r.path, namespace: r.namespace, external: r.external, sideEffects: false };
    });
  },
};

const STUB_DIR = join(dirname(fileURLToPath(import.meta.url)), 'bundle-stubs');

/**
 * Modules the daemon never runs that their packages load anyway, each replaced by a stub that
 * throws if reached (scripts/bundle-stubs/; scripts/source-tree-hooks.mjs does the same for the
 * source tree): the import, and the module that makes it.
 */
const STUBS = [
  { specifier: 'undici', importer: CLIENT_NODE, stub: 'undici.mjs' },
  { specifier: './lib/pushgateway', importer: /[/\\]prom-client[/\\]index\.js$/, stub: 'prom-client-pushgateway.cjs' },
  { specifier: './lib/transport', importer: /[/\\]pino[/\\]pino\.js$/, stub: 'pino-transport.cjs' },
  { specifier: './transport', importer: /[/\\]pino[/\\]lib[/\\]tools\.js$/, stub: 'pino-transport.cjs' },
];

const stubs = {
  name: 'stubs',
  setup(b) {
    b.onResolve({ filter: /./ }, (args) => {
      const s = STUBS.find((x) => x.specifier === args.path && x.importer.test(args.importer));
      return s === undefined ? undefined : { path: join(STUB_DIR, s.stub) };
    });
  },
};

const result = await build({
  entryPoints: { [basename(outfile, extname(outfile))]: entry },
  outdir: dirname(outfile),
  outExtension: { '.js': extname(outfile) },
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  sourcemap: 'external',
  metafile: metafileOut !== undefined,
  legalComments: 'linked',
  logLevel: 'warning',
  banner: { js: "import { createRequire as __flannelRequire } from 'node:module'; const require = __flannelRequire(import.meta.url);" },
  plugins: [stubs, clientNodeGenPure],
  metafile: true,
});
if (metafileOut !== undefined) writeFileSync(metafileOut, JSON.stringify(result.metafile));

const ASCII_FOR = { '→': '>', '←': '<', '’': "'", '‘': "'", '“': '"', '”': '"', '—': '-', '–': '-', '…': '.', '·': '.', '×': 'x', '≤': '<', '≥': '>', 'µ': 'u' };
for (const file of Object.keys(result.metafile.outputs)) {
  if (!file.endsWith('.mjs')) continue;
  const text = readFileSync(file, 'utf8');
  // Every character outside ASCII, one UTF-16 unit each (what V8 and source map columns count).
  const ascii = text.replace(/[^\x00-\x7f]/gu, (c) => (ASCII_FOR[c] ?? '?').padEnd(c.length, '?'));
  if (ascii !== text) writeFileSync(file, ascii);
}
