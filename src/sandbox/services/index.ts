import type { SandboxModule } from '../module';
import { openscaleModule } from './openscale';
import { volumesModule } from './volumes';
import { wmlaEdiModule } from './wmla-edi';
import { wmlaTrainingModule } from './wmla-training';
import { wmlModule } from './wml';

/**
 * The service modules the sandbox serves, in setup order. To add a service, write
 * `src/sandbox/services/<name>/index.ts` exporting a module (see src/sandbox/README.md) and add it here.
 */
export const serviceModules: readonly SandboxModule<any>[] = [
  wmlModule,
  volumesModule,
  openscaleModule,
  wmlaTrainingModule,
  wmlaEdiModule,
];
