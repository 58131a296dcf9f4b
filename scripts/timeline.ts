/**
 * Usage: npm run timeline -- FILE.json [-o OUT.html] [--svg OUT.svg]
 *
 * Draws a --timeline trace (`npm start -- --timeline FILE.json`): a self-contained HTML
 * page (no network: script and style inline) with a lane per child stream, a marker per
 * line (hover: its text and latency), the parent's select() rounds, reads and writes as
 * bars, spawns, signals and exits marked, a time axis, zoom by wheel or drag. Without -o
 * the page is FILE.html beside FILE.json. `--svg` writes the same drawing, static.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { renderSvg } from './timeline/draw.ts';
import { buildModel, parseTrace } from './timeline/model.ts';
import { renderHtml } from './timeline/page.ts';
import { isMain } from './wine.ts';

const USAGE = 'usage: npm run timeline -- FILE.json [-o OUT.html] [--svg OUT.svg]';

export interface TimelineArgs {
  input: string;
  html: string;
  svg: string | null;
}

export function parseTimelineArgs(args: readonly string[]): TimelineArgs {
  let input: string | null = null;
  let html: string | null = null;
  let svg: string | null = null;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const value = (): string => {
      const v = args[++i];
      if (v === undefined || v === '') throw new Error(`missing value for ${a} (${USAGE})`);
      return v;
    };
    if (a === '-o' || a === '--output') html = value();
    else if (a === '--svg') svg = value();
    else if (a.startsWith('-')) throw new Error(`unknown option '${a}' (${USAGE})`);
    else if (input === null) input = a;
    else throw new Error(`one trace at a time: '${a}' is a second one (${USAGE})`);
  }
  if (input === null) throw new Error(`no trace given (${USAGE})`);
  return { input, html: html ?? `${input.replace(/\.json$/i, '')}.html`, svg };
}

function main(): number {
  let o: TimelineArgs;
  let text: string;
  try {
    o = parseTimelineArgs(process.argv.slice(2));
    text = readFileSync(o.input, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    process.stderr.write(`timeline: ${err.code ? `cannot read '${err.path ?? ''}': ${err.code}` : err.message}\n`);
    return 2;
  }
  let model;
  try {
    model = buildModel(parseTrace(text, o.input));
  } catch (e) {
    process.stderr.write(`timeline: ${(e as Error).message}\n`);
    return 1;
  }
  writeFileSync(o.html, renderHtml(model));
  process.stdout.write(`timeline: ${o.html} (${model.lineCount} lines, ${model.rows.length} rows)\n`);
  if (o.svg !== null) {
    writeFileSync(o.svg, `${renderSvg(model)}\n`);
    process.stdout.write(`timeline: ${o.svg}\n`);
  }
  if (model.cut) process.stdout.write(`timeline: the trace was cut (${model.cut.dropped} events past --timeline-limit ${model.cut.limit})\n`);
  return 0;
}

if (isMain(import.meta.url)) process.exitCode = main();
