import { atomicWriteFile } from '../lib/util/atomic-write';

/**
 * Rewrites the output notebook atomically (temp file + rename) whenever asked, off the critical
 * path: a save requested while one is in flight is coalesced into one more save of the latest
 * state. A crash or kill therefore leaves the last complete state, never a truncated file.
 */
export class NotebookSaver {
  private running: Promise<void> | null = null;
  private dirty = false;
  private failure: unknown;

  constructor(
    private readonly path: string,
    /** Serialises the notebook as it is at the moment of writing (redacted). */
    private readonly snapshot: () => string,
    private readonly onSaved: () => void = () => {},
  ) {}

  request(): void {
    this.dirty = true;
    if (!this.running) this.running = this.loop();
  }

  private async loop(): Promise<void> {
    while (this.dirty) {
      this.dirty = false;
      try {
        await atomicWriteFile(this.path, this.snapshot());
        this.onSaved();
      } catch (err) {
        this.failure ??= err;
      }
    }
    this.running = null;
  }

  /** Waits for pending saves; throws the first write error, if any. */
  async flush(): Promise<void> {
    while (this.running) await this.running;
    if (this.failure) throw this.failure;
  }

  /** Writes the current state now and waits for it. */
  async save(): Promise<void> {
    this.request();
    await this.flush();
  }
}
