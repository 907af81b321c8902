// Entry point of /opt/bin/install-conf in the image (bundled by scripts/build-image.sh).
import { main } from './install-conf.ts';

process.exitCode = await main(process.argv.slice(2));
