import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../datapath/native.js';

const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version?: string };
export const VERSION: string = pkg.version ?? '0.0.0';
