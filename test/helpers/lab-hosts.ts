// What the test labs with named weft hosts share (policy-lab.ts,
// vlan-lab.ts): each host's daemon and API, the weft CLI against it, and the
// containers the lab made, by name.
import { ApiClient } from '../../src/api/client.js';
import type { LabState } from '../../src/lab/lab.js';
import { weft } from './lab.js';
import type { RunResult } from './sh.js';

export abstract class LabHosts<H extends string, C> {
  readonly containers = new Map<string, C>();

  /** `what` names the lab in errors ("the policy lab"). */
  protected constructor(
    public lab: LabState,
    private readonly what: string,
  ) {}

  host(h: H) {
    return this.lab.hosts.find((x) => x.name === h)!;
  }
  client(h: H): ApiClient {
    return new ApiClient(this.host(h).api);
  }
  c(name: string): C {
    const c = this.containers.get(name);
    if (!c) throw new Error(`no container ${name} in ${this.what}`);
    return c;
  }

  /** `weft ARGS` against host h's daemon. */
  weft(h: H, ...args: string[]): Promise<RunResult> {
    return weft(this.host(h).api, ...args);
  }
  /** `weft ARGS` that must succeed; its stdout. */
  async ok(h: H, ...args: string[]): Promise<string> {
    const r = await this.weft(h, ...args);
    if (r.code !== 0) throw new Error(`weft ${args.join(' ')} (on ${h}) failed: ${r.stderr.trim() || r.stdout.trim()}`);
    return r.stdout;
  }
}
