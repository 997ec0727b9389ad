#!/usr/bin/env node
// The `weft` CNI plugin (installed into the runtime's CNI plugin directory by `weft cni install`).
import '../dist/src/runtime/cni/main.js';
