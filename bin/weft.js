#!/usr/bin/env node
// The `weft` command. The TypeScript is compiled to dist/ by `npm ci` (prepare).
import '../dist/src/cli/main.js';
