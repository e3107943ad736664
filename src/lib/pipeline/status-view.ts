/**
 * Views of a deployment's monitoring status (runbook §4 "Fetch Monitor Status Manually", and the
 * status dashboard): the latest run and measurement of every monitor with breaches marked, as text
 * and HTML, and a measurement history as a Vega-Lite chart with fallbacks (an SVG rendered by Vega
 * itself, and an HTML table) for front ends without a Vega-Lite renderer, such as Debian's classic
 * Notebook. Pure functions of the data: the notebooks decide what to display.
 */
import type { Measurement, MonitorDefinition } from '../contracts/openscale';
import { summarizeMeasurement, type SubscriptionStatus } from '../openscale/status';
import { escapeHtml, formatNumber, textTable } from './report';

/**
 * The monitoring status as text, for notebooks and `runbook monitor status`: a summary line (monitors,
 * breaches, failed runs), then per monitor its instance, last run (finished or queued time, error),
 * newest measurement (time, run, issue count) and a table of its metrics with limits and breaches.
 */
export function statusText(status: SubscriptionStatus): string {
  const parts: string[] = [`Subscription ${status.subscriptionId}: ${status.monitors.length} monitor${status.monitors.length === 1 ? '' : 's'}, ${status.breaches} breach${status.breaches === 1 ? '' : 'es'}, ${status.failedRuns} failed run${status.failedRuns === 1 ? '' : 's'}`];
  if (status.monitors.length === 0) parts.push('  no monitor instances');
  for (const m of status.monitors) {
    const run = m.lastRun;
    parts.push(
      '',
      `${m.monitorDefinitionId}${m.monitorName ? ` (${m.monitorName})` : ''}: instance ${m.instanceId}, ${m.instanceState}`,
      run ? `  last run ${run.id}: ${run.state}${run.completedAt ? ` at ${run.completedAt}` : run.queuedAt ? ` (queued ${run.queuedAt})` : ''}${run.error ? `: ${run.error}` : ''}` : '  no run yet',
    );
    const ms = m.measurement;
    if (!ms) {
      parts.push('  no measurement yet');
      continue;
    }
    parts.push(`  measurement ${ms.timestamp}${ms.runId ? ` (run ${ms.runId})` : ''}: ${ms.issueCount} issue${ms.issueCount === 1 ? '' : 's'}`);
    const rows = ms.metrics.map((x) => [x.name, x.value, x.lowerLimit, x.upperLimit, x.breach ? `BREACH (${x.breach})` : 'ok']);
    parts.push(textTable(['metric', 'value', 'lower', 'upper', 'status'], rows).split('\n').map((l) => `  ${l}`).join('\n'));
  }
  return parts.join('\n');
}

const BREACH_STYLE = 'background:#fde0dc;color:#8b0000;font-weight:bold';

/** The monitoring status as HTML: one table per monitor, breaching metrics highlighted. */
export function statusHtml(status: SubscriptionStatus): string {
  const out: string[] = [
    `<p><b>Subscription</b> <code>${escapeHtml(status.subscriptionId)}</code>: ${status.monitors.length} monitors, ` +
      `<span style="${status.breaches ? BREACH_STYLE : ''}">${status.breaches} breaches</span>, ${status.failedRuns} failed runs</p>`,
  ];
  for (const m of status.monitors) {
    const run = m.lastRun;
    out.push(
      `<h4>${escapeHtml(m.monitorDefinitionId)}${m.monitorName ? ` (${escapeHtml(m.monitorName)})` : ''}</h4>`,
      `<p>instance <code>${escapeHtml(m.instanceId)}</code> ${escapeHtml(m.instanceState)}; ` +
        (run ? `last run <code>${escapeHtml(run.id)}</code> <b>${escapeHtml(run.state)}</b>${run.completedAt ? ` at ${escapeHtml(run.completedAt)}` : ''}${run.error ? `: ${escapeHtml(run.error)}` : ''}` : 'no run yet') +
        '</p>',
    );
    if (!m.measurement) {
      out.push('<p>no measurement yet</p>');
      continue;
    }
    const rows = m.measurement.metrics.map(
      (x) =>
        `<tr style="${x.breach ? BREACH_STYLE : ''}"><td>${escapeHtml(x.name)}</td><td style="text-align:right">${formatNumber(x.value)}</td>` +
        `<td style="text-align:right">${formatNumber(x.lowerLimit)}</td><td style="text-align:right">${formatNumber(x.upperLimit)}</td><td>${x.breach ? `✖ ${escapeHtml(x.breach)}` : '✔ ok'}</td></tr>`,
    );
    out.push(`<table><thead><tr><th>metric</th><th>value</th><th>lower limit</th><th>upper limit</th><th>status</th></tr></thead><tbody>${rows.join('')}</tbody></table>`);
  }
  return out.join('\n');
}

/** One metric value of one measurement. */
export interface HistoryPoint {
  readonly monitor: string;
  readonly metric: string;
  /** ISO time of the measurement. */
  readonly time: string;
  readonly value: number;
  readonly lower?: number;
  readonly upper?: number;
  readonly status: 'ok' | 'breach';
  readonly runId?: string;
}

/** The points of a monitor's measurements (names from its definition), oldest first. */
export function historyPoints(monitor: string, measurements: readonly Measurement[], definition?: MonitorDefinition): HistoryPoint[] {
  const points: HistoryPoint[] = [];
  for (const m of measurements) {
    const s = summarizeMeasurement(m, definition);
    for (const x of s.metrics) {
      points.push({ monitor, metric: x.name, time: s.timestamp, value: x.value, lower: x.lowerLimit, upper: x.upperLimit, status: x.breach ? 'breach' : 'ok', runId: s.runId });
    }
  }
  return points.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
}

/** A Vega-Lite v5 spec (kept as plain JSON: it is displayed, not type-checked against vega-lite). */
export type VegaLiteSpec = Record<string, unknown>;

/**
 * One small chart per metric: its values over time (points red where they broke a limit) and its
 * lower and upper limits as dashed rules; y scales independent (percentages, fractions and counts
 * differ).
 */
export function historyChartSpec(points: readonly HistoryPoint[], opts: { title?: string; columns?: number } = {}): VegaLiteSpec {
  const order = [...new Set(points.map((p) => `${p.monitor} · ${p.metric}`))];
  const x = { field: 'time', type: 'temporal', title: null };
  const y = { field: 'value', type: 'quantitative', title: null, scale: { zero: false } };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: opts.title ?? 'Monitor measurements',
    data: { values: points.map((p) => ({ ...p, panel: `${p.monitor} · ${p.metric}` })) },
    facet: { field: 'panel', type: 'nominal', title: null, sort: order },
    columns: opts.columns ?? 3,
    spec: {
      width: 200,
      height: 90,
      layer: [
        { mark: { type: 'line', color: '#4c78a8' }, encoding: { x, y } },
        {
          mark: { type: 'point', filled: true, size: 45 },
          encoding: {
            x,
            y,
            color: { field: 'status', type: 'nominal', scale: { domain: ['ok', 'breach'], range: ['#4c78a8', '#d62728'] }, legend: { title: 'status' } },
            tooltip: [{ field: 'metric' }, { field: 'time', type: 'temporal' }, { field: 'value', format: '.4~g' }, { field: 'lower' }, { field: 'upper' }, { field: 'runId' }],
          },
        },
        { mark: { type: 'rule', strokeDash: [4, 3], color: '#d62728' }, encoding: { y: { field: 'lower', type: 'quantitative', aggregate: 'max' } } },
        { mark: { type: 'rule', strokeDash: [4, 3], color: '#ff7f0e' }, encoding: { y: { field: 'upper', type: 'quantitative', aggregate: 'min' } } },
      ],
    },
    resolve: { scale: { y: 'independent' } },
  };
}

interface VegaLiteModule {
  compile(spec: unknown): { spec: unknown };
}
interface VegaModule {
  parse(spec: unknown): unknown;
  View: new (runtime: unknown, opts: { renderer: string }) => { toSVG(): Promise<string>; finalize(): void };
}

/**
 * Renders a Vega-Lite spec to SVG with Vega's own renderer (no browser, no canvas), for front ends
 * that cannot render Vega-Lite. Vega is loaded only when a chart is rendered.
 */
export async function renderSvg(spec: VegaLiteSpec): Promise<string> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const vl = require('vega-lite') as VegaLiteModule;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const vega = require('vega') as VegaModule;
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Per metric: measurements, latest value, range, limits and breaches, as HTML and text. */
export function historySummary(points: readonly HistoryPoint[]): { html: string; text: string } {
  const byPanel = new Map<string, HistoryPoint[]>();
  for (const p of points) {
    const key = `${p.monitor}\u0000${p.metric}`;
    if (!byPanel.has(key)) byPanel.set(key, []);
    byPanel.get(key)!.push(p);
  }
  const rows = [...byPanel.values()].map((ps) => {
    const last = ps[ps.length - 1]!;
    const values = ps.map((p) => p.value);
    return { monitor: last.monitor, metric: last.metric, n: ps.length, latest: last.value, min: Math.min(...values), max: Math.max(...values), lower: last.lower, upper: last.upper, breaches: ps.filter((p) => p.status === 'breach').length };
  });
  const text = textTable(
    ['monitor', 'metric', 'n', 'latest', 'min', 'max', 'lower', 'upper', 'breaches'],
    rows.map((r) => [r.monitor, r.metric, r.n, r.latest, r.min, r.max, r.lower, r.upper, r.breaches]),
  );
  const cell = (v: number | undefined) => `<td style="text-align:right">${formatNumber(v)}</td>`;
  const html =
    '<table><thead><tr><th>monitor</th><th>metric</th><th>n</th><th>latest</th><th>min</th><th>max</th><th>lower</th><th>upper</th><th>breaches</th></tr></thead><tbody>' +
    rows
      .map((r) => `<tr style="${r.breaches ? BREACH_STYLE : ''}"><td>${escapeHtml(r.monitor)}</td><td>${escapeHtml(r.metric)}</td>${cell(r.n)}${cell(r.latest)}${cell(r.min)}${cell(r.max)}${cell(r.lower)}${cell(r.upper)}${cell(r.breaches)}</tr>`)
      .join('') +
    '</tbody></table>';
  return { html, text };
}

/** A display bundle: the same content under several MIME types; a front end shows the richest it can. */
export type MimeBundle = Record<string, unknown>;

/**
 * The history chart as a display bundle: Vega-Lite (JupyterLab, VS Code), the SVG Vega renders
 * plus the summary table as HTML (classic Notebook), and the summary as text (terminals, the runner's
 * log). With no points, only text and HTML saying so.
 */
export async function historyChart(points: readonly HistoryPoint[], opts: { title?: string } = {}): Promise<MimeBundle> {
  const summary = historySummary(points);
  if (points.length === 0) return { 'text/plain': 'no measurements in this time range', 'text/html': '<p>no measurements in this time range</p>' };
  const spec = historyChartSpec(points, opts);
  const svg = await renderSvg(spec);
  return {
    'application/vnd.vegalite.v5+json': spec,
    'image/svg+xml': svg,
    'text/html': `<div>${svg}</div>\n${summary.html}`,
    'text/plain': summary.text,
  };
}
