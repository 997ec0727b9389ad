// The control plane's store: `openStore('embedded' | 'etcd://HOST:PORT[,...]', { stateDir })`.
export * from './store.js';
