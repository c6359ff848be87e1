/**
 * Hand-written SVG plots for the benchmark report: a line chart over time (with markers for
 * events along it), a horizontal waterfall of stages, and a bar histogram. Plain strings, no external assets, so the report
 * reads offline; every number is escaped or formatted here.
 */

export interface LineSeries {
  name: string;
  color: string;
  points: [number, number][];
}

/**
 * A dashed vertical line at `x` on a line chart: `label` is written at its top where it does not
 * overlap another (and the markers are few enough to label), `title` shows on hover.
 */
export interface ChartMarker {
  x: number;
  label: string;
  color: string;
  title: string;
}

const width = 720;
const height = 260;
const margin = { left: 64, right: 16, top: 24, bottom: 40 };
const plotWidth = width - margin.left - margin.right;
const plotHeight = height - margin.top - margin.bottom;

export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function formatTick(value: number): string {
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs >= 1_000_000) return `${+(value / 1_000_000).toFixed(1)}M`;
  if (abs >= 10_000) return `${+(value / 1000).toFixed(0)}k`;
  if (abs >= 1000) return `${+(value / 1000).toFixed(1)}k`;
  if (abs >= 10) return value.toFixed(0);
  if (abs >= 1) return +value.toFixed(1) + '';
  return +value.toFixed(3) + '';
}

/** Up to ~5 round tick values from 0 to at least `max`. */
function ticks(max: number): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / 5;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((factor) => factor * magnitude).find((candidate) => candidate >= raw) ?? raw;
  const out: number[] = [];
  for (let value = 0; value < max + step; value += step) out.push(value);
  return out;
}

function frame(id: string, title: string, xLabel: string, yLabel: string, body: string): string {
  return `<figure id="${id}"><figcaption>${escapeHtml(title)}</figcaption>` +
    `<svg xmlns="http://www.w3.org/2000/svg" class="plot" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(title)}">` +
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#fff"/>${body}` +
    `<text x="${margin.left + plotWidth / 2}" y="${height - 6}" text-anchor="middle" class="axis-label">${escapeHtml(xLabel)}</text>` +
    `<text x="14" y="${margin.top + plotHeight / 2}" text-anchor="middle" class="axis-label" transform="rotate(-90 14 ${margin.top + plotHeight / 2})">${escapeHtml(yLabel)}</text>` +
    `</svg></figure>`;
}

function yAxis(yTicks: number[], yMax: number): string {
  return yTicks.map((value) => {
    const y = margin.top + plotHeight - (value / yMax) * plotHeight;
    return `<line x1="${margin.left}" x2="${margin.left + plotWidth}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" class="grid"/>` +
      `<text x="${margin.left - 6}" y="${(y + 4).toFixed(1)}" text-anchor="end" class="tick">${formatTick(value)}</text>`;
  }).join('');
}

function legend(series: { name: string; color: string; marker?: boolean }[]): string {
  return series.map((entry, i) => {
    const x = margin.left + 8 + i * 110;
    const glyph = entry.marker === true
      ? `<line x1="${x + 6}" x2="${x + 6}" y1="5" y2="19" stroke="${entry.color}" stroke-width="1.5" stroke-dasharray="3 2"/>`
      : `<rect x="${x}" y="6" width="12" height="12" fill="${entry.color}"/>`;
    return `${glyph}<text x="${x + 16}" y="16" class="tick">${escapeHtml(entry.name)}</text>`;
  }).join('');
}

/** Below this many pixels between markers on average, labels would hide the lines: the legend names them instead. */
const labelledMarkerSpacing = 40;

function markerLines(markers: readonly ChartMarker[], px: (x: number) => number): string {
  const labelled = markers.length * labelledMarkerSpacing <= plotWidth;
  let labelEnd = -Infinity;
  let body = '';
  for (const marker of [...markers].sort((a, b) => a.x - b.x)) {
    const x = px(marker.x).toFixed(1);
    body += `<line x1="${x}" x2="${x}" y1="${margin.top}" y2="${margin.top + plotHeight}" stroke="${marker.color}" stroke-width="1" stroke-opacity="0.7" stroke-dasharray="4 3" ` +
      `class="marker" data-marker="${escapeHtml(marker.label)}"><title>${escapeHtml(marker.title)}</title></line>`;
    // A label only where it clears the one before.
    if (!labelled || px(marker.x) <= labelEnd) continue;
    labelEnd = px(marker.x) + marker.label.length * 6 + 8;
    body += `<text x="${(px(marker.x) + 3).toFixed(1)}" y="${margin.top + 26}" fill="${marker.color}" class="marker-label">${escapeHtml(marker.label)}</text>`;
  }
  return body;
}

/**
 * Lines over x (seconds); `shadeTo` greys the region x < shadeTo (the warm-up); `markers` draw a
 * dashed vertical line each, and one legend entry per label.
 */
export function lineChart(id: string, title: string, xLabel: string, yLabel: string, series: LineSeries[], shadeTo = 0,
  markers: readonly ChartMarker[] = []): string {
  const all = series.flatMap((entry) => entry.points);
  const xMax = Math.max(1, ...all.map(([x]) => x), ...markers.map((marker) => marker.x));
  const yTicks = ticks(Math.max(0, ...all.map(([, y]) => y)));
  const yMax = yTicks[yTicks.length - 1]!;
  const px = (x: number): number => margin.left + (x / xMax) * plotWidth;
  const py = (y: number): number => margin.top + plotHeight - (y / yMax) * plotHeight;
  let body = yAxis(yTicks, yMax);
  if (shadeTo > 0) {
    body += `<rect x="${margin.left}" y="${margin.top}" width="${(px(Math.min(shadeTo, xMax)) - margin.left).toFixed(1)}" height="${plotHeight}" class="warmup"/>` +
      `<text x="${margin.left + 4}" y="${margin.top + 12}" class="tick">warm-up</text>`;
  }
  for (const value of ticks(xMax)) {
    if (value > xMax) break;
    body += `<text x="${px(value).toFixed(1)}" y="${margin.top + plotHeight + 16}" text-anchor="middle" class="tick">${formatTick(value)}</text>`;
  }
  body += `<line x1="${margin.left}" x2="${margin.left + plotWidth}" y1="${margin.top + plotHeight}" y2="${margin.top + plotHeight}" class="axis"/>`;
  for (const entry of series) {
    if (entry.points.length === 0) continue;
    const d = entry.points.map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ');
    body += `<path d="${d}" fill="none" stroke="${entry.color}" stroke-width="2" class="series" data-series="${escapeHtml(entry.name)}"/>`;
    if (entry.points.length <= 120) {
      body += entry.points.map(([x, y]) => `<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="2.5" fill="${entry.color}"><title>${escapeHtml(entry.name)} ${formatTick(x)}: ${formatTick(y)}</title></circle>`).join('');
    }
  }
  body += markerLines(markers, px);
  const markerKinds = [...new Map(markers.map((marker) => [marker.label, marker.color])).entries()].sort(([a], [b]) => a.localeCompare(b));
  body += legend([...series, ...markerKinds.map(([name, color]) => ({ name, color, marker: true }))]);
  return frame(id, title, xLabel, yLabel, body);
}

export interface WaterfallBar {
  name: string;
  startUs: number;
  meanUs: number;
  p50Us: number;
  p99Us: number;
  parallel: boolean;
}

/** One bar per stage from its start to start + mean; a whisker to start + p99. */
export function waterfall(id: string, title: string, bars: WaterfallBar[]): string {
  const rowHeight = 22;
  const labelWidth = 150;
  const chartHeight = margin.top + bars.length * rowHeight + margin.bottom;
  const xMaxUs = Math.max(1, ...bars.map((bar) => bar.startUs + Math.max(bar.meanUs, bar.p99Us)));
  const xTicks = ticks(xMaxUs / 1000);
  const xMaxMs = xTicks[xTicks.length - 1]!;
  const innerWidth = width - labelWidth - margin.right;
  const px = (us: number): number => labelWidth + (us / 1000 / xMaxMs) * innerWidth;
  let body = '';
  for (const value of xTicks) {
    const x = px(value * 1000).toFixed(1);
    body += `<line x1="${x}" x2="${x}" y1="${margin.top}" y2="${chartHeight - margin.bottom}" class="grid"/>` +
      `<text x="${x}" y="${chartHeight - margin.bottom + 16}" text-anchor="middle" class="tick">${formatTick(value)}</text>`;
  }
  bars.forEach((bar, i) => {
    const y = margin.top + i * rowHeight;
    const x = px(bar.startUs);
    const barWidth = Math.max(1, px(bar.startUs + bar.meanUs) - x);
    const color = bar.name === 'total' ? '#444' : bar.parallel ? '#e08a1e' : '#2f6db5';
    body += `<text x="${labelWidth - 6}" y="${y + 15}" text-anchor="end" class="tick">${escapeHtml(bar.name)}</text>` +
      `<rect x="${x.toFixed(1)}" y="${y + 4}" width="${barWidth.toFixed(1)}" height="${rowHeight - 8}" fill="${color}" class="stage-bar"><title>${escapeHtml(bar.name)}: mean ${(bar.meanUs / 1000).toFixed(3)} ms, p50 ${(bar.p50Us / 1000).toFixed(3)} ms, p99 ${(bar.p99Us / 1000).toFixed(3)} ms</title></rect>` +
      `<path d="M${x.toFixed(1)},${y + rowHeight / 2} L${px(bar.startUs + bar.p99Us).toFixed(1)},${y + rowHeight / 2}" stroke="#222" stroke-width="1" class="whisker"/>`;
  });
  const svgHeight = chartHeight;
  return `<figure id="${id}"><figcaption>${escapeHtml(title)}</figcaption>` +
    `<svg xmlns="http://www.w3.org/2000/svg" class="plot" width="${width}" height="${svgHeight}" viewBox="0 0 ${width} ${svgHeight}" role="img" aria-label="${escapeHtml(title)}">` +
    `<rect x="0" y="0" width="${width}" height="${svgHeight}" fill="#fff"/>${body}` +
    `<text x="${labelWidth + innerWidth / 2}" y="${svgHeight - 6}" text-anchor="middle" class="axis-label">ms after receive (bar: mean, line: p99; orange: runs alongside)</text>` +
    `</svg></figure>`;
}

/** Bars over logarithmic latency buckets: [lower bound µs, count]. */
export function histogram(id: string, title: string, buckets: [number, number][]): string {
  const yTicks = ticks(Math.max(0, ...buckets.map(([, count]) => count)));
  const yMax = yTicks[yTicks.length - 1]!;
  const lowUs = buckets.length > 0 ? buckets[0]![0] : 1;
  const highUs = buckets.length > 0 ? buckets[buckets.length - 1]![0] * 10 ** 0.1 : 10;
  const logLow = Math.log10(lowUs);
  const logSpan = Math.max(0.1, Math.log10(highUs) - logLow);
  const px = (us: number): number => margin.left + ((Math.log10(us) - logLow) / logSpan) * plotWidth;
  const py = (count: number): number => margin.top + plotHeight - (count / yMax) * plotHeight;
  let body = yAxis(yTicks, yMax);
  for (const [floorUs, count] of buckets) {
    const x = px(floorUs);
    const barWidth = Math.max(1, px(floorUs * 10 ** 0.1) - x - 1);
    body += `<rect x="${x.toFixed(1)}" y="${py(count).toFixed(1)}" width="${barWidth.toFixed(1)}" height="${(margin.top + plotHeight - py(count)).toFixed(1)}" fill="#2f6db5" class="bar"><title>${formatTick(floorUs / 1000)} ms: ${count}</title></rect>`;
  }
  // Decades label the axis; within less than a decade, every bucket's lower bound does.
  const labels = logSpan >= 1.5
    ? Array.from({ length: Math.floor(Math.log10(highUs)) - Math.ceil(logLow) + 1 }, (_, i) => 10 ** (Math.ceil(logLow) + i))
    : buckets.map(([floorUs]) => floorUs);
  for (const us of labels) {
    body += `<text x="${px(us).toFixed(1)}" y="${margin.top + plotHeight + 16}" text-anchor="middle" class="tick">${formatTick(us / 1000)}</text>`;
  }
  body += `<line x1="${margin.left}" x2="${margin.left + plotWidth}" y1="${margin.top + plotHeight}" y2="${margin.top + plotHeight}" class="axis"/>`;
  return frame(id, title, 'latency, ms (log scale)', 'writes', body);
}
