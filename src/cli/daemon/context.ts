// What every step of `weft daemon`'s start shares: its options, its log,
// where its state is, who this host is, and the one list of what to close.
import type { Logger } from 'pino';
import type { DaemonOptions } from '../daemon.js';
import type { Cleanups } from './cleanups.js';

export interface DaemonContext {
  opts: DaemonOptions;
  log: Logger;
  stateDir: string;
  hostId: string;
  cleanups: Cleanups;
}
