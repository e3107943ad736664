/**
 * Plan (dry-run) mode. Every mutating library step takes `{ plan }`: with a Plan it still reads
 * (to decide between find and create), makes no remote change, records each change it would make
 * and returns a result marked `planned`. Without a Plan it applies the changes.
 */

/** The service a change goes to. */
export type PlanService = 'wml' | 'metadata' | 'volumes' | 'wmla-training' | 'wmla-edi' | 'openscale';

/** What a change does. */
export type PlanAction = 'create' | 'update' | 'delete' | 'upload' | 'submit' | 'start' | 'stop' | 'run';

/** One remote change that a step would make. */
export interface PlannedChange {
  readonly service: PlanService;
  readonly action: PlanAction;
  /** The kind of resource (`data_asset`, `subscription`, `monitor_instance`, `edi_model`, …). */
  readonly resource: string;
  /** Its name or id, as a person would recognise it. */
  readonly target: string;
  /** A short human note: why, or what changes (e.g. `thresholds: Dice 25 → 20`). */
  readonly detail?: string;
}

/** The id a planned result carries where the real id would only exist after applying. */
export const PLANNED_ID = '(planned)';

/** Collects the changes of a dry run, in order. */
export class Plan {
  private readonly list: PlannedChange[] = [];

  /** Records a change that was not made. */
  record(change: PlannedChange): void {
    this.list.push(Object.freeze({ ...change }));
  }

  get changes(): readonly PlannedChange[] {
    return this.list;
  }

  get isEmpty(): boolean {
    return this.list.length === 0;
  }

  /** One line per change, e.g. `openscale create subscription "deepliif Monitor" — no subscription of that name`. */
  toText(): string {
    if (this.list.length === 0) return 'No remote changes.';
    return this.list
      .map((c) => `${c.service} ${c.action} ${c.resource} "${c.target}"${c.detail ? ` — ${c.detail}` : ''}`)
      .join('\n');
  }
}

/** Options every mutating step accepts. */
export interface MutationOptions {
  /** Dry run: record the changes in this plan instead of making them. */
  readonly plan?: Plan;
}
