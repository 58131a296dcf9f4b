/**
 * The HTML page: the SVG of draw.ts, inline, with a small script (inline too: the page
 * needs no network) for the tooltip and the zoom. Zoom: the wheel zooms around the
 * pointer, a drag across the plot zooms to the dragged range, a double click (or the
 * "whole run" button) shows the whole run again.
 */
import { renderSvg, xml } from './draw.ts';
import type { Model } from './model.ts';

export function renderHtml(model: Model): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${xml(model.title)} - timeline</title>
<style>
body { font-family: sans-serif; margin: 12px; color: #1a202c; }
#bar { margin-bottom: 6px; font-size: 13px; }
#bar button { font-size: 12px; }
#view { position: relative; user-select: none; }
#view svg { display: block; }
#band { position: absolute; top: 0; bottom: 0; background: rgba(66, 153, 225, 0.2); border: 1px solid #4299e1; display: none; pointer-events: none; }
#tip { position: fixed; display: none; max-width: 640px; background: #1a202c; color: #fff; padding: 6px 8px; border-radius: 4px; font: 12px monospace; white-space: pre-wrap; word-break: break-all; pointer-events: none; z-index: 2; }
</style>
</head>
<body>
<div id="bar"><button id="reset" type="button">whole run</button> <span id="span"></span> - wheel: zoom, drag: zoom to a range, double click: whole run</div>
<div id="view">
${renderSvg(model)}
<div id="band"></div>
</div>
<div id="tip"></div>
<script>
${PAGE_SCRIPT}
</script>
</body>
</html>
`;
}

/** Plain browser JavaScript: moves the marks for the view [v0, v1] (microseconds). */
const PAGE_SCRIPT = String.raw`
(function () {
  'use strict';
  var svg = document.querySelector('svg.timeline');
  var left = Number(svg.dataset.left), right = Number(svg.dataset.right);
  var duration = Number(svg.dataset.duration);
  var width = Number(svg.getAttribute('width'));
  var plotW = width - left - right;
  var marks = Array.prototype.map.call(svg.querySelectorAll('.plot [data-t]'), function (el) {
    var d = el.getAttribute('data-d');
    return { el: el, t: Number(el.dataset.t), d: d === null ? null : Number(d) };
  });
  var axis = svg.querySelector('.axis');
  var axisTop = Number(axis.dataset.top), axisBottom = Number(axis.dataset.bottom);
  var v0 = 0, v1 = duration;
  var SVGNS = 'http://www.w3.org/2000/svg';

  function step(span) {
    var raw = Math.max(span / 8, 1e-3);
    var pow = Math.pow(10, Math.floor(Math.log10(raw)));
    var ms = [1, 2, 5, 10];
    for (var i = 0; i < ms.length; i++) if (ms[i] * pow >= raw) return ms[i] * pow;
    return 10 * pow;
  }
  function label(us, s) {
    var decimals = Math.max(0, Math.min(3, -Math.floor(Math.log10(s / 1000))));
    return (us / 1000).toFixed(decimals) + ' ms';
  }
  function drawAxis(k) {
    while (axis.firstChild) axis.removeChild(axis.firstChild);
    var s = step(v1 - v0);
    for (var t = Math.ceil(v0 / s) * s; t <= v1; t += s) {
      var x = left + (t - v0) * k;
      var line = document.createElementNS(SVGNS, 'line');
      line.setAttribute('x1', x); line.setAttribute('x2', x);
      line.setAttribute('y1', axisTop); line.setAttribute('y2', axisBottom);
      var text = document.createElementNS(SVGNS, 'text');
      text.setAttribute('x', x); text.setAttribute('y', axisTop - 4);
      text.textContent = label(t, s);
      axis.appendChild(line); axis.appendChild(text);
    }
  }
  function draw() {
    var k = plotW / (v1 - v0);
    for (var i = 0; i < marks.length; i++) {
      var m = marks[i];
      if (m.d === null) m.el.setAttribute('x', left + (m.t - v0) * k - 1);
      else {
        m.el.setAttribute('x', left + (m.t - v0) * k);
        m.el.setAttribute('width', Math.max(m.el.classList.contains('spawn') ? 2 : 1, m.d * k));
      }
    }
    drawAxis(k);
    document.getElementById('span').textContent = label(v0, step(v1 - v0)) + ' to ' + label(v1, step(v1 - v0));
  }
  function zoomTo(a, b) {
    var minSpan = 1;
    if (b - a < minSpan) { var mid = (a + b) / 2; a = mid - minSpan / 2; b = mid + minSpan / 2; }
    v0 = Math.max(0, a); v1 = Math.min(duration, b);
    if (v1 <= v0) { v0 = 0; v1 = duration; }
    draw();
  }
  function timeAt(clientX) {
    var box = svg.getBoundingClientRect();
    var px = (clientX - box.left) * width / box.width;
    return v0 + (px - left) * (v1 - v0) / plotW;
  }

  svg.addEventListener('wheel', function (ev) {
    ev.preventDefault();
    var t = timeAt(ev.clientX);
    var f = ev.deltaY < 0 ? 0.8 : 1.25;
    zoomTo(t - (t - v0) * f, t + (v1 - t) * f);
  }, { passive: false });

  var band = document.getElementById('band');
  var dragFrom = null;
  svg.addEventListener('mousedown', function (ev) {
    if (timeAt(ev.clientX) < v0) return;
    dragFrom = ev.clientX;
  });
  window.addEventListener('mousemove', function (ev) {
    if (dragFrom === null) return;
    var box = document.getElementById('view').getBoundingClientRect();
    band.style.display = 'block';
    band.style.left = (Math.min(dragFrom, ev.clientX) - box.left) + 'px';
    band.style.width = Math.abs(ev.clientX - dragFrom) + 'px';
  });
  window.addEventListener('mouseup', function (ev) {
    if (dragFrom === null) return;
    var from = dragFrom;
    dragFrom = null;
    band.style.display = 'none';
    if (Math.abs(ev.clientX - from) < 4) return;
    var a = timeAt(Math.min(from, ev.clientX)), b = timeAt(Math.max(from, ev.clientX));
    zoomTo(a, b);
  });
  svg.addEventListener('dblclick', function () { zoomTo(0, duration); });
  document.getElementById('reset').addEventListener('click', function () { zoomTo(0, duration); });

  // The tooltip shows the mark's <title> (a line's text, then its latency).
  var tip = document.getElementById('tip');
  svg.addEventListener('mouseover', function (ev) {
    var title = ev.target.querySelector && ev.target.querySelector('title');
    if (!title) { tip.style.display = 'none'; return; }
    tip.textContent = title.textContent;
    tip.style.display = 'block';
  });
  svg.addEventListener('mousemove', function (ev) {
    tip.style.left = Math.max(0, Math.min(ev.clientX + 12, window.innerWidth - 660)) + 'px';
    tip.style.top = (ev.clientY + 14) + 'px';
  });
  svg.addEventListener('mouseleave', function () { tip.style.display = 'none'; });
  draw();
})();
`;
