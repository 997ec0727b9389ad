// weft's version, from package.json. Found without the data path's loader,
// which would load the native add-on: `weft --version` works without a build.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The first directory above this file holding binding.gyp: the package root (from src/ or dist/src/). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'binding.gyp'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the weft package root (binding.gyp)');
    dir = up;
  }
  return dir;
}

const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version?: string };
export const VERSION: string = pkg.version ?? '0.0.0';
