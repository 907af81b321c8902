import pkg from '../package.json' with { type: 'json' };

/** The release, from package.json (the bundle inlines it). Upstream sets it with ldflags. */
export const VERSION: string = pkg.version;
