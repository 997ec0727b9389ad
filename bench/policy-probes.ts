// Small TCP tools the policy bench runs inside the containers (python3,
// standard library only): a server that accepts and closes on many ports, a
// client that tries a new connection every 2 ms until one is accepted (a SYN
// a policy drops gets no answer, so each attempt needs its own socket), a
// single "is it blocked" attempt, and a new-connections-per-second loop.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../src/switch/netns.js';

const PY = String.raw`
import select, socket, struct, sys, time
mode = sys.argv[1]
def attempt(ip, port, wait):
    s = socket.socket()
    s.setblocking(False)
    try:
        s.connect((ip, port))
    except BlockingIOError:
        pass
    # 'ok', 'refused' (an answer: the path is open) or 'silent' (no answer in time)
    res = 'silent'
    _, w, _ = select.select([], [s], [], wait)
    if w:
        res = 'ok' if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0 else 'refused'
    # RST instead of FIN on close: no TIME_WAIT, so no port runs out.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    s.close()
    return res
if mode == 'serve':
    socks = []
    for p in sys.argv[2:]:
        l = socket.socket()
        l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        l.bind(('0.0.0.0', int(p)))
        l.listen(4096)
        socks.append(l)
    print('listening', flush=True)
    while True:
        r, _, _ = select.select(socks, [], [])
        for l in r:
            try:
                c, _ = l.accept()
                c.close()
            except OSError:
                pass
elif mode == 'until-open':
    ip, port, limit = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    print('polling', flush=True)
    end = time.time() + limit
    while time.time() < end:
        if attempt(ip, port, 0.002) == 'ok':
            print('%.6f' % time.time(), flush=True)
            sys.exit(0)
    sys.exit(1)
elif mode == 'until-closed':
    # A connection unanswered for 20 ms, and the next two as well: the time
    # the first of them was tried (one slow answer is not a cut).
    ip, port, limit = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    print('polling', flush=True)
    end = time.time() + limit
    first, n = None, 0
    while time.time() < end:
        t = time.time()
        if attempt(ip, port, 0.02) == 'silent':
            first = t if first is None else first
            n += 1
            if n == 3:
                print('%.6f' % first, flush=True)
                sys.exit(0)
        else:
            first, n = None, 0
    sys.exit(1)
elif mode == 'blocked':
    ip, port = sys.argv[2], int(sys.argv[3])
    sys.exit(0 if all(attempt(ip, port, 0.3) == 'silent' for _ in range(3)) else 1)
elif mode == 'rate':
    ip, port, secs = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    n = fails = 0
    t0 = time.time()
    while time.time() - t0 < secs:
        if attempt(ip, port, 1.0) == 'ok':
            n += 1
        else:
            fails += 1
    print('%d %d %.6f' % (n, fails, time.time() - t0), flush=True)
`;

/** A client polling a port: started, the moment it saw what it waits for, and a stop. */
export interface Poll {
  polling: Promise<void>;
  at: Promise<number>;
  stop: () => void;
}

/**
 * The tools, written once as a file in the lab's directory (labDown removes
 * it): a command line stays short, and an error names the mode, not the script.
 */
export class Probes {
  readonly script: string;

  constructor(dir: string) {
    mkdirSync(dir, { recursive: true });
    this.script = join(dir, 'policy-probe.py');
    writeFileSync(this.script, PY);
  }

  private argv(ns: string, args: string[]): string[] {
    return ['netns', 'exec', ns, 'python3', this.script, ...args];
  }

  /** Starts the accept-and-close server on `ports` in `ns`; resolves once it listens. */
  async server(ns: string, ports: number[]): Promise<{ stop: () => void }> {
    const child = spawn('ip', this.argv(ns, ['serve', ...ports.map(String)]), { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => d.toString().includes('listening') && resolve());
      child.once('exit', () => reject(new Error(`server in ${ns} exited: ${err.trim().split('\n').at(-1) ?? ''}`)));
    });
    return { stop: () => child.kill('SIGKILL') };
  }

  /**
   * Tries ip:port every 2 ms from `ns` until a connection is accepted.
   * `polling` resolves when it has started; `at` with the epoch-ms time of
   * the first accepted connection (rejects after `limitMs` without one).
   */
  untilOpen(ns: string, ip: string, port: number, limitMs: number): Poll {
    return this.poll(ns, 'until-open', ip, port, limitMs);
  }

  /**
   * Opens connections to ip:port from `ns` one after another until three in
   * a row go unanswered (20 ms each); `at` is when the first of them was tried.
   */
  untilClosed(ns: string, ip: string, port: number, limitMs: number): Poll {
    return this.poll(ns, 'until-closed', ip, port, limitMs);
  }

  private poll(ns: string, mode: string, ip: string, port: number, limitMs: number): Poll {
    const child = spawn('ip', this.argv(ns, [mode, ip, String(port), String(limitMs / 1000)]), { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    let onPoll: () => void = () => undefined;
    const polling = new Promise<void>((resolve) => (onPoll = resolve));
    const at = new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('polling')) onPoll();
        const m = /^(\d+\.\d+)$/m.exec(out);
        if (m) resolve(Number(m[1]) * 1000);
      });
      child.once('exit', () => {
        onPoll();
        reject(new Error(`${mode} ${ip}:${port} from ${ns}: nothing within ${limitMs} ms`));
      });
    });
    at.catch(() => undefined); // a caller that stops early never waits for it
    return { polling, at, stop: () => child.kill('SIGKILL') };
  }

  /** True when three tries of 300 ms each to ip:port from `ns` all go unanswered (no SYN-ACK, no RST). */
  blocked(ns: string, ip: string, port: number): Promise<boolean> {
    return run('ip', this.argv(ns, ['blocked', ip, String(port)]), { timeoutMs: 10_000 }).then(
      () => true,
      () => false,
    );
  }

  /** New TCP connections per second from `ns` to ip:port, one after another, for `seconds`. */
  async connectionRate(ns: string, ip: string, port: number, seconds: number): Promise<{ perSecond: number; failed: number }> {
    const out = await run('ip', this.argv(ns, ['rate', ip, String(port), String(seconds)]), { timeoutMs: (seconds + 30) * 1000 });
    const [n, fails, secs] = out.trim().split(/\s+/).map(Number);
    return { perSecond: n / secs, failed: fails };
  }
}
