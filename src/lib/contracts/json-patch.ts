import { z } from 'zod';

/** One RFC 6902 operation. PATCH bodies of WML spaces and OpenScale resources are arrays of these. */
export const JsonPatchOperation = z
  .looseObject({
    op: z.enum(['add', 'remove', 'replace', 'move', 'copy', 'test']),
    path: z.string(),
    from: z.string().optional(),
    value: z.unknown().optional(),
  })
  .superRefine((op, ctx) => {
    if ((op.op === 'add' || op.op === 'replace' || op.op === 'test') && !Object.prototype.hasOwnProperty.call(op, 'value')) {
      ctx.addIssue({ code: 'custom', path: ['value'], message: `required for op '${op.op}'` });
    }
    if ((op.op === 'move' || op.op === 'copy') && op.from === undefined) {
      ctx.addIssue({ code: 'custom', path: ['from'], message: `required for op '${op.op}'` });
    }
  });
export type JsonPatchOperation = z.infer<typeof JsonPatchOperation>;
export const JsonPatch = z.array(JsonPatchOperation);
export type JsonPatch = z.infer<typeof JsonPatch>;
