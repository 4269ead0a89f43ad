// A hand-written SVG chart: hit ratio against cache size for one trace, one line per policy.

const WIDTH = 480;
const HEIGHT = 300;
const PAD = { left: 52, right: 40, top: 34, bottom: 46 };

/** Escapes text for SVG. */
const esc = (text) => String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * The chart of one trace.
 * @param {{ title: string, subtitle: string, xs: number[], xLabels: string[], series: { name: string, color: string, dash?: string, ys: number[] }[] }} chart
 *   xs: cache sizes as shares of the distinct keys (plotted on a log scale); ys: hit ratios in %.
 */
export function hitRatioSvg({ title, subtitle, xs, xLabels, series }) {
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const top = Math.min(100, Math.ceil(Math.max(...series.flatMap((s) => s.ys)) / 10) * 10 || 10);
  const lx = (x) => Math.log(x);
  const x0 = lx(xs[0]);
  const x1 = lx(xs[xs.length - 1]);
  const px = (x) => PAD.left + ((lx(x) - x0) / (x1 - x0 || 1)) * plotW;
  const py = (y) => PAD.top + plotH - (y / top) * plotH;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="11">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#fff"/>`,
    `<text x="${PAD.left}" y="16" font-size="13" font-weight="bold">${esc(title)}</text>`,
    `<text x="${PAD.left}" y="28" fill="#555">${esc(subtitle)}</text>`,
  ];
  for (let y = 0; y <= top; y += top / 5) {
    out.push(`<line x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${py(y).toFixed(1)}" y2="${py(y).toFixed(1)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${PAD.left - 6}" y="${(py(y) + 4).toFixed(1)}" text-anchor="end" fill="#555">${Math.round(y)}%</text>`);
  }
  xs.forEach((x, i) => {
    out.push(`<line x1="${px(x).toFixed(1)}" x2="${px(x).toFixed(1)}" y1="${PAD.top}" y2="${PAD.top + plotH}" stroke="#f0f0f0"/>`);
    out.push(`<text x="${px(x).toFixed(1)}" y="${PAD.top + plotH + 14}" text-anchor="middle" fill="#555">${esc(xLabels[i])}</text>`);
  });
  out.push(`<text x="${PAD.left + plotW / 2}" y="${HEIGHT - 8}" text-anchor="middle" fill="#333">cache size (share of the trace's distinct keys)</text>`);
  out.push(`<text x="14" y="${PAD.top + plotH / 2}" text-anchor="middle" fill="#333" transform="rotate(-90 14 ${PAD.top + plotH / 2})">hit ratio</text>`);
  series.forEach((s, i) => {
    const points = s.ys.map((y, j) => `${px(xs[j]).toFixed(1)},${py(y).toFixed(1)}`).join(' ');
    out.push(`<polyline points="${points}" fill="none" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`);
    for (const [j, y] of s.ys.entries()) out.push(`<circle cx="${px(xs[j]).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${s.color}"/>`);
    const lx0 = PAD.left + 8 + i * 130;
    out.push(
      `<line x1="${lx0}" x2="${lx0 + 18}" y1="${PAD.top + 8}" y2="${PAD.top + 8}" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`,
    );
    out.push(`<text x="${lx0 + 22}" y="${PAD.top + 12}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
