// Calls about another host's ports go to that host (spec §5): the seam the
// observe and capture routes use. The lead's peer client implements it.
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface Peers { forward(host: string, req: IncomingMessage, res: ServerResponse): Promise<void> }
