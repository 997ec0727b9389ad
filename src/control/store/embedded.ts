// The embedded store (one host, in this process): see embedded/store.ts;
// its files in embedded/files.ts, wal.ts and lockfile.ts, its leases and
// watches in embedded/lease.ts and watch.ts.
export { EmbeddedStore } from './embedded/store.js';
export { checkStoreFiles } from './embedded/files.js';
export { storeHolder } from './embedded/lockfile.js';
