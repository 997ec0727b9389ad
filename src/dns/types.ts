// Record type numbers to names, from dns-packet's own table (its typings do not cover that module).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const table = require('dns-packet/types.js') as { toString(type: number): string };

/** 'A', 'SRV', ... or 'UNKNOWN_<n>'. */
export const typeName = (type: number): string => table.toString(type);
