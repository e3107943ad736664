import type { Command } from 'commander';
import { register as sandbox } from './commands/sandbox';
import { register as run } from './commands/run';
import { register as runs } from './commands/runs';
import { register as metrics } from './commands/metrics';
import { register as doctor } from './commands/doctor';
import { register as thresholds } from './commands/thresholds';
import { register as assets } from './commands/assets';
import { register as metadata } from './commands/metadata';
import { register as train } from './commands/train';
import { register as edi } from './commands/edi';
import { register as provider } from './commands/provider';
import { register as monitor } from './commands/monitor';

/** Each subcommand module exports a `register(program)`; list it here to add it to `runbook`. */
export const commands: ReadonlyArray<(program: Command) => void> = [
  sandbox,
  run,
  runs,
  metrics,
  doctor,
  thresholds,
  assets,
  metadata,
  train,
  edi,
  provider,
  monitor,
];
