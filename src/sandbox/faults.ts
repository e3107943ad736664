import { FaultRule, type FaultRuleInput } from './config';
import { z } from 'zod';
import { seededRandom } from '../lib/util/seeded-random';


export type FaultDecision =
  | { kind: 'none'; latencyMs: number }
  | { kind: 'drop'; latencyMs: number; rule: string }
  | { kind: 'error'; latencyMs: number; status: number; retryAfterSeconds?: number; rule: string };

interface CompiledRule {
  rule: FaultRule;
  method?: string;
  matches: (path: string) => boolean;
  hits: number;
}

const METHOD = /^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS|\*)\s+(.+)$/i;

function compile(rule: FaultRule): CompiledRule {
  const m = METHOD.exec(rule.route.trim());
  const method = m && m[1] !== '*' ? m[1]!.toUpperCase() : undefined;
  const pattern = m ? m[2]!.trim() : rule.route.trim();
  let matches: (path: string) => boolean;
  if (pattern.includes('*')) {
    const regex = new RegExp('^' + pattern.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$');
    matches = (path) => regex.test(path);
  } else {
    matches = (path) => path.startsWith(pattern);
  }
  return { rule, method, matches, hits: 0 };
}

/** The runtime fault settings, as read and written by `GET/PUT /sandbox/v1/faults`. */
export const FaultSettings = z.strictObject({
  seed: z.number().int().optional(),
  faults: z.array(FaultRule),
});
export type FaultSettingsInput = z.input<typeof FaultSettings>;

/**
 * Decides, per request, whether to add latency, drop the connection or answer with an error.
 * Draws come from one seeded PRNG in request-arrival order, so a sequential run is reproducible.
 */
export class FaultInjector {
  private rules: CompiledRule[] = [];
  private random: () => number = seededRandom(1);
  private seed = 1;

  constructor(rules: readonly FaultRuleInput[] = [], seed = 1) {
    this.configure(rules, seed);
  }

  /** Replaces every rule and restarts the PRNG from `seed`. */
  configure(rules: readonly FaultRuleInput[], seed = this.seed): void {
    this.rules = rules.map((r) => compile(FaultRule.parse(r)));
    this.seed = seed;
    this.random = seededRandom(seed);
  }

  settings(): { seed: number; faults: (FaultRule & { hits: number })[] } {
    return { seed: this.seed, faults: this.rules.map((r) => ({ ...r.rule, hits: r.hits })) };
  }

  decide(method: string, path: string): FaultDecision {
    const compiled = this.rules.find((r) => (!r.method || r.method === method) && r.matches(path));
    if (!compiled) return { kind: 'none', latencyMs: 0 };
    const { rule } = compiled;
    const exhausted = rule.maxHits !== undefined && compiled.hits >= rule.maxHits;
    if (!exhausted && rule.dropRate > 0 && this.random() < rule.dropRate) {
      compiled.hits++;
      return { kind: 'drop', latencyMs: rule.latencyMs, rule: rule.route };
    }
    if (!exhausted && rule.errorRate > 0 && this.random() < rule.errorRate) {
      compiled.hits++;
      const status = rule.statuses[Math.floor(this.random() * rule.statuses.length)]!;
      const retry = status === 429 || status === 503 ? rule.retryAfterSeconds : undefined;
      return { kind: 'error', latencyMs: rule.latencyMs, status, retryAfterSeconds: retry, rule: rule.route };
    }
    return { kind: 'none', latencyMs: rule.latencyMs };
  }
}
