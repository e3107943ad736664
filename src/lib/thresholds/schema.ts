import { z } from 'zod';

/**
 * A threshold as the runbook writes it in YAML: `{ threshold: [value, 'lower' | 'upper'] }`.
 * `lower` means "an issue when the value falls below", `upper` "an issue when it rises above".
 */
export const ThresholdSetting = z.strictObject({
  threshold: z.tuple([
    z.number({ error: 'expected a number' }).refine(Number.isFinite, { error: 'expected a finite number' }),
    z.enum(['lower', 'upper'], { error: "expected 'lower' or 'upper'" }),
  ], { error: "expected [value, 'lower' | 'upper']" }),
}, { error: "expected { threshold: [value, 'lower' | 'upper'] }" });
export type ThresholdSetting = z.infer<typeof ThresholdSetting>;

/** Thresholds of one monitor keyed by metric name (`Dice`, `precision_positive`, …). */
export const ThresholdMap = z.record(
  z.string().min(1, { error: 'expected a metric name' }),
  ThresholdSetting,
  { error: 'expected a mapping of metric name to { threshold: [value, lower|upper] }' },
);
export type ThresholdMap = z.infer<typeof ThresholdMap>;

/** OpenScale's threshold type names. */
export type ThresholdType = 'lower_limit' | 'upper_limit';

/** `lower` → `lower_limit`, `upper` → `upper_limit`. */
export function thresholdType(direction: 'lower' | 'upper'): ThresholdType {
  return direction === 'lower' ? 'lower_limit' : 'upper_limit';
}

/** `lower_limit` → `lower`, `upper_limit` → `upper`. */
export function thresholdDirection(type: ThresholdType): 'lower' | 'upper' {
  return type === 'lower_limit' ? 'lower' : 'upper';
}
