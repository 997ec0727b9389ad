// The bench's progress on stderr: "[3/14] overlay vxlan, host A = weft:
// iperf3 4 streams A->B". On a terminal the line is rewritten in place (\r);
// otherwise (a log file, CI) each step is a plain line. Notes (results,
// setup messages) are lines of their own either way.

export interface ProgressOut {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export class Progress {
  private n = 0;
  private line = '';

  constructor(
    private total: number,
    private out: ProgressOut = process.stderr,
  ) {}

  /** Shows the step that starts now (counted when done() is called). */
  step(what: string): void {
    this.line = `[${Math.min(this.n + 1, this.total)}/${this.total}] ${what}`;
    if (this.out.isTTY) this.out.write(`\r\x1b[K${this.fit(this.line)}`);
    else this.out.write(this.line + '\n');
  }

  done(): void {
    this.n++;
  }

  /** A line that stays; on a terminal the current step is shown again under it. */
  note(s: string): void {
    if (!this.out.isTTY) {
      this.out.write(s + '\n');
      return;
    }
    this.out.write(`\r\x1b[K${s}\n`);
    if (this.line) this.out.write(this.fit(this.line));
  }

  /**
   * Runs a part's cleanup from its `finally`: a cleanup error is thrown when
   * the part succeeded, and only noted when it failed, so that it does not
   * hide the error that got us there.
   */
  async cleanup(what: string, failed: boolean, cleanup: () => Promise<void>): Promise<void> {
    try {
      await cleanup();
    } catch (err) {
      if (!failed) throw err;
      this.note(`${what}: ${(err as Error).message}`);
    }
  }

  /** Clears the in-place line (call once at the end). */
  end(): void {
    if (this.out.isTTY && this.line) this.out.write('\r\x1b[K');
    this.line = '';
  }

  /** A line longer than the terminal would wrap and \r could not take it back. */
  private fit(s: string): string {
    const w = this.out.columns ?? 0;
    return w > 1 && s.length >= w ? s.slice(0, w - 1) : s;
  }
}
