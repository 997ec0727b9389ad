// Where weft is installed: the first directory above this file that holds
// binding.gyp (src/sys when run from source, dist/src/sys when compiled).
// Its own file so that finding it never loads the native add-on: `weft
// --version`, the lab and the benches ask for it without a data path.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'binding.gyp'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the weft package root (binding.gyp)');
    dir = up;
  }
  return dir;
}
