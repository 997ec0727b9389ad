// weft's version, from package.json. Found without the data path's loader,
// which would load the native add-on: `weft --version` works without a build.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../sys/package-root.js';

const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version?: string };
export const VERSION: string = pkg.version ?? '0.0.0';
