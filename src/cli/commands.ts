import type { Command } from 'commander';

/** A subcommand: its name and a loader of its `register(program)`. */
export interface CommandEntry {
  readonly name: string;
  readonly load: () => (program: Command) => void;
}

/**
 * Each subcommand module exports a `register(program)`; list it here to add it to `runbook`.
 * Modules load lazily: a run of one command does not pay for loading every other one.
 */
export const commands: readonly CommandEntry[] = [
  { name: 'sandbox', load: () => (require('./commands/sandbox') as typeof import('./commands/sandbox')).register },
  { name: 'run', load: () => (require('./commands/run') as typeof import('./commands/run')).register },
  { name: 'runs', load: () => (require('./commands/runs') as typeof import('./commands/runs')).register },
  { name: 'metrics', load: () => (require('./commands/metrics') as typeof import('./commands/metrics')).register },
  { name: 'doctor', load: () => (require('./commands/doctor') as typeof import('./commands/doctor')).register },
  { name: 'thresholds', load: () => (require('./commands/thresholds') as typeof import('./commands/thresholds')).register },
  { name: 'assets', load: () => (require('./commands/assets') as typeof import('./commands/assets')).register },
  { name: 'metadata', load: () => (require('./commands/metadata') as typeof import('./commands/metadata')).register },
  { name: 'train', load: () => (require('./commands/train') as typeof import('./commands/train')).register },
  { name: 'edi', load: () => (require('./commands/edi') as typeof import('./commands/edi')).register },
  { name: 'provider', load: () => (require('./commands/provider') as typeof import('./commands/provider')).register },
  { name: 'monitor', load: () => (require('./commands/monitor') as typeof import('./commands/monitor')).register },
];
