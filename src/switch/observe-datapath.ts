// What the observe tools (weft trace, dp dump, stats drops) read of the data
// path: a read-only walk of a frame, the recent drops, and the fast path's
// tables with their hits. Never called per packet; none of them changes a
// counter. The Switch hands them out (Switch.observe), as it owns the data path.
import type { Datapath } from '../datapath/datapath.js';

export type { DropRecord, FibRecord, TablesDump, TraceStep } from '../datapath/datapath.js';

export type ObserveDatapath = Pick<Datapath, 'trace' | 'dropsRecent' | 'fibDump' | 'tablesDump' | 'now'>;
