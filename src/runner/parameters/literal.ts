/** True for values a TypeScript literal can express: JSON values plus undefined and non-finite numbers. */
export function isLiteralValue(value: unknown): boolean {
  if (value === null || value === undefined) return true;
  const t = typeof value;
  if (t === 'string' || t === 'number' || t === 'boolean') return true;
  if (Array.isArray(value)) return value.every(isLiteralValue);
  if (t === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.values(value as Record<string, unknown>).every(isLiteralValue);
  }
  return false;
}

/** A TypeScript literal for `value` (JSON syntax, plus `undefined`, `NaN`, `Infinity`). */
export function toLiteral(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return 'NaN';
    if (!Number.isFinite(value)) return value > 0 ? 'Infinity' : '-Infinity';
    return Object.is(value, -0) ? '-0' : String(value);
  }
  if (Array.isArray(value)) return `[${value.map(toLiteral).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    // A literal `"__proto__": v` would set the prototype; the computed form defines an own key.
    const entries = Object.entries(value as Record<string, unknown>).map(
      ([k, v]) => `${k === '__proto__' ? `[${JSON.stringify(k)}]` : JSON.stringify(k)}: ${toLiteral(v)}`,
    );
    return `{${entries.join(', ')}}`;
  }
  return JSON.stringify(value);
}
