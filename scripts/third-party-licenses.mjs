// Writes the licence texts of every npm package bundled into the image, from esbuild's
// metafiles (the exact set of files each bundle contains), so the notice matches what ships:
//   node scripts/third-party-licenses.mjs <out.txt> <metafile.json>...
// A package counts once, however many of its files were bundled. Its text is its LICENSE /
// LICENCE / COPYING file (any case, any extension); a package without one is an error, so a
// new dependency cannot ship without its notice.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root of a bundled input path, or undefined for our own sources. */
export function packageRootOf(input, cwd) {
  const parts = resolve(cwd, input).split(sep);
  const i = parts.lastIndexOf('node_modules');
  if (i < 0) return undefined;
  const n = parts[i + 1]?.startsWith('@') ? 3 : 2;
  return parts.slice(0, i + n).join(sep);
}

const LICENSE_FILE = /^(licen[cs]e|copying)(\b|[-._])/i;

/** Every bundled package: name, version, licence field, and its licence text (undefined when it has none). */
export function bundledPackages(metafiles, cwd) {
  const roots = new Set();
  for (const m of metafiles) {
    for (const input of Object.keys(m.inputs)) {
      const root = packageRootOf(input, cwd);
      if (root !== undefined) roots.add(root);
    }
  }
  return [...roots]
    .map((root) => {
      const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
      const file = readdirSync(root).filter((f) => LICENSE_FILE.test(f)).sort()[0];
      return {
        name: pkg.name,
        version: pkg.version,
        license: typeof pkg.license === 'string' ? pkg.license : JSON.stringify(pkg.license ?? pkg.licenses ?? null),
        path: relative(cwd, root),
        text: file === undefined ? undefined : readFileSync(join(root, file), 'utf8').trim(),
      };
    })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export function renderNotice(packages) {
  const head = 'Third-party software bundled into flannel-ts (/opt/flannel-ts/*.mjs), with the licence text each package ships.\n';
  return (
    head +
    packages.map((p) => `\n${'='.repeat(78)}\n${p.name}@${p.version} (${p.license})\n${'='.repeat(78)}\n\n${p.text}\n`).join('')
  );
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [out, ...metas] = process.argv.slice(2);
  if (out === undefined || metas.length === 0) {
    process.stderr.write('usage: node scripts/third-party-licenses.mjs <out.txt> <metafile.json>...\n');
    process.exit(2);
  }
  const cwd = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const pkgs = bundledPackages(metas.map((m) => JSON.parse(readFileSync(m, 'utf8'))), cwd);
  const missing = pkgs.filter((p) => p.text === undefined);
  if (missing.length > 0) {
    process.stderr.write(`third-party-licenses: no LICENSE file in ${missing.map((p) => `${p.name}@${p.version} (${p.path})`).join(', ')}\n`);
    process.exit(1);
  }
  if (!existsSync(dirname(out))) throw new Error(`${dirname(out)} does not exist`);
  writeFileSync(out, renderNotice(pkgs));
  process.stdout.write(`third-party-licenses: ${pkgs.length} packages → ${out}\n`);
}
