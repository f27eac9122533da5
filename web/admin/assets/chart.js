// chart.js: a small line chart in inline SVG, drawn again on each tick.
// Colours come from the style sheet (classes), so dark mode follows.

import {h, s, replace} from './dom.js';

// niceMax rounds a maximum up to 1, 2 or 5 times a power of ten.
function niceMax(v, floor) {
  const m = Math.max(v, floor);
  const p = 10 ** Math.floor(Math.log10(m));
  for (const k of [1, 2, 5, 10]) if (k * p >= m) return k * p;
  return 10 * p;
}

// LineChart keeps the last `slots` points of some series.
export class LineChart {
  // series: [{name, cls}]; format(v) writes a value; floor is the
  // smallest top of the scale (so a quiet node shows a flat line, not noise).
  constructor({title, series, format, floor = 1, slots = 60, label}) {
    this.series = series;
    this.format = format;
    this.floor = floor;
    this.slots = slots;
    this.points = [];
    this.svgBox = h('div', {class: 'chart-plot'});
    this.legend = h('div', {class: 'chart-legend'});
    this.el = h('figure', {class: 'chart', 'aria-label': label || title},
      h('figcaption', {class: 'chart-head'}, h('span', {class: 'chart-title'}, title), this.legend),
      this.svgBox);
    this.draw();
  }

  // push adds one point: an array of values, one per series (null: no data).
  push(values) {
    this.points.push(values);
    if (this.points.length > this.slots) this.points.shift();
    this.draw();
  }

  draw() {
    const W = Math.max(240, Math.round(this.svgBox.clientWidth || 600));
    const H = 150;
    const pad = {l: 4, r: 4, t: 18, b: 4};
    const all = this.points.flat().filter((v) => Number.isFinite(v));
    const top = niceMax(all.length ? Math.max(...all) : 0, this.floor);
    const x = (i) => pad.l + ((W - pad.l - pad.r) * (this.slots - this.points.length + i)) / (this.slots - 1);
    const y = (v) => pad.t + (H - pad.t - pad.b) * (1 - v / top);
    const grid = [0.25, 0.5, 0.75, 1].map((f) => s('line', {class: 'chart-grid', x1: 0, x2: W, y1: y(top * f), y2: y(top * f)}));
    const paths = this.series.map((ser, si) => {
      let d = '';
      let started = false;
      this.points.forEach((p, i) => {
        const v = p[si];
        if (!Number.isFinite(v)) { started = false; return; }
        d += `${started ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
        started = true;
      });
      const line = s('path', {class: `chart-line ${ser.cls}`, d: d || 'M0,0'});
      const lastI = this.points.length - 1;
      const lastV = lastI >= 0 ? this.points[lastI][si] : null;
      const dot = Number.isFinite(lastV) ? s('circle', {class: `chart-dot ${ser.cls}`, cx: x(lastI).toFixed(1), cy: y(lastV).toFixed(1), r: 3}) : null;
      if (si !== 0 || !d) return [line, dot];
      const first = this.points.findIndex((p) => Number.isFinite(p[0]));
      const area = `${d}L${x(this.points.length - 1).toFixed(1)},${y(0)}L${x(first).toFixed(1)},${y(0)}Z`;
      return [s('path', {class: `chart-area ${ser.cls}`, d: area}), line, dot];
    });
    replace(this.svgBox,
      s('svg', {viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-hidden': 'true'},
        grid,
        s('text', {class: 'chart-scale', x: W - 6, y: 13, 'text-anchor': 'end'}, this.format(top)),
        paths.flat().filter(Boolean)));
    const last = this.points[this.points.length - 1] || [];
    replace(this.legend, this.series.map((ser, si) => h('span', {class: `legend-item ${ser.cls}`},
      h('span', {class: 'legend-swatch', 'aria-hidden': 'true'}),
      `${ser.name} `,
      h('strong', {'data-series': ser.name}, Number.isFinite(last[si]) ? this.format(last[si]) : '–'))));
  }
}
