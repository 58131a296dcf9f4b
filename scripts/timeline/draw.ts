/**
 * The drawing of a timeline model: one SVG, written as it is for `--svg`, and inlined in
 * the HTML page, whose script moves the same elements when the view zooms.
 *
 * Every drawn mark carries its time (`data-t`, microseconds from the start) and, for a
 * span, its duration (`data-d`): the page recomputes x and width from these; the static
 * SVG has them computed for the whole run. Line markers have class `line` and sit in the
 * lane (`g.lane[data-pid][data-tid]`) of their child and stream.
 */
import type { Mark, Model, Row } from './model.ts';

export const LAYOUT = {
  width: 1200,
  left: 240,
  right: 16,
  top: 44,
  rowHeight: 22,
  /** Space between the parent's rows and the children's, and between children. */
  gap: 8,
  bottom: 40,
};

const COLOURS: Record<string, string> = {
  select: '#a0aec0',
  read: '#38a169',
  write: '#805ad5',
  stdout: '#2b6cb0',
  stderr: '#c53030',
  exit: '#1a202c',
  signal: '#dd6b20',
  spawn: '#2f855a',
};

/** What XML forbids or would misread: escaped, and control characters replaced. */
export function xml(text: string): string {
  return text
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '\ufffd')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

/** Round tick steps for an axis over `spanUs`: 1, 2 or 5 times a power of ten. */
export function tickStepUs(spanUs: number, wanted = 8): number {
  const raw = Math.max(spanUs / wanted, 1e-3);
  const pow = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * pow >= raw) return m * pow;
  return 10 * pow;
}

export function tickLabel(us: number, stepUs: number): string {
  const decimals = Math.max(0, Math.min(3, -Math.floor(Math.log10(stepUs / 1000))));
  return `${(us / 1000).toFixed(decimals)} ms`;
}

interface Placed {
  row: Row;
  y: number;
  group: 'parent' | number;
}

function placeRows(model: Model): { placed: Placed[]; height: number } {
  const placed: Placed[] = [];
  let y = LAYOUT.top;
  let last: 'parent' | number | null = null;
  for (const row of model.rows) {
    const group = row.pid ?? 'parent';
    if (last !== null && group !== last) y += LAYOUT.gap;
    placed.push({ row, y, group });
    y += LAYOUT.rowHeight;
    last = group;
  }
  return { placed, height: y + LAYOUT.bottom };
}

/** The SVG markup of the whole run. */
export function renderSvg(model: Model): string {
  const { width, left, right, rowHeight } = LAYOUT;
  const { placed, height } = placeRows(model);
  const plotW = width - left - right;
  const k = plotW / model.durationUs;
  const x = (t: number): number => left + t * k;
  const f = (v: number): string => (Math.round(v * 100) / 100).toString();
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" data-left="${left}" data-right="${right}" data-duration="${model.durationUs}" font-family="sans-serif" font-size="11">`);
  out.push(`<style>${SVG_STYLE}</style>`);
  out.push(`<rect width="${width}" height="${height}" fill="#fff"/>`);
  const cut = model.cut ? ` - CUT: ${model.cut.dropped} events past --timeline-limit ${model.cut.limit} not recorded` : '';
  out.push(`<text x="8" y="16" class="title">${xml(`${model.title}: ${model.lineCount} lines over ${(model.durationUs / 1000).toFixed(1)} ms${cut}`)}</text>`);
  out.push(`<clipPath id="plot"><rect x="${left}" y="0" width="${plotW}" height="${height}"/></clipPath>`);

  // Row backgrounds and labels.
  out.push('<g class="labels">');
  for (const p of placed) {
    const shade = p.group === 'parent' ? '#f7fafc' : placed.indexOf(p) % 2 === 0 ? '#fdfdfd' : '#f4f6f8';
    out.push(`<rect x="0" y="${p.y}" width="${width}" height="${rowHeight}" fill="${shade}"/>`);
    out.push(`<text x="8" y="${p.y + rowHeight / 2 + 4}">${xml(p.row.label)}</text>`);
  }
  out.push('</g>');

  // The axis: ticks across every row; the page redraws them when zooming.
  const axisBottom = height - LAYOUT.bottom;
  out.push(`<g class="axis" data-top="${LAYOUT.top - 6}" data-bottom="${axisBottom}">`);
  const step = tickStepUs(model.durationUs);
  for (let t = 0; t <= model.durationUs; t += step) {
    out.push(`<line x1="${f(x(t))}" x2="${f(x(t))}" y1="${LAYOUT.top - 6}" y2="${axisBottom}"/><text x="${f(x(t))}" y="${LAYOUT.top - 10}">${tickLabel(t, step)}</text>`);
  }
  out.push('</g>');

  out.push('<g clip-path="url(#plot)"><g class="plot">');
  for (const p of placed) {
    const attrs = p.row.pid === null ? `data-row="${xml(p.row.id)}"` : `data-pid="${p.row.pid}" data-tid="${p.row.tid}"`;
    out.push(`<g class="lane" ${attrs}>`);
    const colour = p.row.tid === 2 ? COLOURS.stderr : COLOURS.stdout;
    for (const m of p.row.marks) out.push(mark(m, p.y, x, k, f, colour));
    out.push('</g>');
  }
  // Spawns, signals and exits: across the child's rows.
  out.push('<g class="events">');
  for (const e of model.events) {
    const rows = placed.filter((p) => p.row.pid === e.pid);
    if (rows.length === 0) continue;
    const y0 = rows[0]!.y;
    const h = rows.length * rowHeight;
    const w = e.d === null ? 2 : Math.max(2, e.d * k);
    const xx = e.d === null ? x(e.t) - 1 : x(e.t);
    out.push(`<rect class="${e.kind}" x="${f(xx)}" y="${y0}" width="${f(w)}" height="${h}" data-t="${e.t}"${e.d === null ? '' : ` data-d="${e.d}"`} fill="${COLOURS[e.kind]}"><title>${xml(e.info)}</title></rect>`);
  }
  out.push('</g></g></g>');
  out.push(`<text x="${left}" y="${height - 14}" class="legend">${LEGEND}</text>`);
  out.push('</svg>');
  return out.join('\n');
}

const LEGEND = [
  `<tspan fill="${COLOURS.stdout}">| stdout line</tspan>`,
  `<tspan fill="${COLOURS.stderr}">| stderr line</tspan>`,
  `<tspan fill="${COLOURS.select}">▬ select()</tspan>`,
  `<tspan fill="${COLOURS.read}">▬ read</tspan>`,
  `<tspan fill="${COLOURS.write}">▬ write</tspan>`,
  `<tspan fill="${COLOURS.spawn}">▌ spawn</tspan>`,
  `<tspan fill="${COLOURS.signal}">▌ signal</tspan>`,
  `<tspan fill="${COLOURS.exit}">▌ exit</tspan>`,
].join('   ');

function mark(m: Mark, y: number, x: (t: number) => number, k: number, f: (v: number) => string, lineColour: string): string {
  const h = LAYOUT.rowHeight;
  if (m.kind === 'line') {
    const tip = `${m.text ?? ''}\n${m.info}`;
    const lat = m.latencyMs === undefined ? '' : ` data-latency="${m.latencyMs.toFixed(3)}"`;
    return `<rect class="line" x="${f(x(m.t) - 1)}" y="${y + 4}" width="2" height="${h - 8}" data-t="${m.t}"${lat} fill="${lineColour}"><title>${xml(tip)}</title></rect>`;
  }
  const w = m.d === null ? 2 : Math.max(1, m.d * k);
  const xx = m.d === null ? x(m.t) - 1 : x(m.t);
  const d = m.d === null ? '' : ` data-d="${m.d}"`;
  return `<rect class="${m.kind}" x="${f(xx)}" y="${y + 5}" width="${f(w)}" height="${h - 10}" data-t="${m.t}"${d} fill="${COLOURS[m.kind] ?? '#999'}"><title>${xml(m.info)}</title></rect>`;
}

const SVG_STYLE = [
  '.title { font-size: 13px; font-weight: bold; }',
  '.axis line { stroke: #e2e8f0; }',
  '.axis text { fill: #4a5568; text-anchor: middle; font-size: 10px; }',
  '.legend { font-size: 11px; }',
].join(' ');
