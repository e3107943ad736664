import { z } from 'zod';

/** One entry of IBM's error envelope. */
export const IbmErrorItem = z.looseObject({
  code: z.string(),
  message: z.string(),
  more_info: z.string().optional(),
  target: z.unknown().optional(),
  parameters: z.array(z.unknown()).optional(),
});
export type IbmErrorItem = z.infer<typeof IbmErrorItem>;

/**
 * The error body of WML, CAMS and OpenScale: `{trace, errors:[{code, message}]}`
 * (ibm-api-contracts.md §1.6). The sandbox answers every error in this shape.
 */
export const IbmErrorEnvelope = z.looseObject({
  trace: z.string(),
  errors: z.array(IbmErrorItem).min(1),
  status_code: z.number().int().optional(),
});
export type IbmErrorEnvelope = z.infer<typeof IbmErrorEnvelope>;
