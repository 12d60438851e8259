import type { CandleBar, PricePoint } from './model.js';

/**
 * Two small canvas charts, drawn by hand (no chart library to bundle): a price line of
 * the live trades and OHLC candles with volume. Each draw clears and repaints the whole
 * canvas at the device pixel ratio; callers batch draws per animation frame.
 */

export const COLORS = {
  background: '#0f1419',
  grid: '#1f2a35',
  axis: '#7d8b99',
  line: '#4aa8ff',
  fill: 'rgba(74, 168, 255, 0.12)',
  up: '#26a269',
  down: '#e5534b',
  volume: 'rgba(125, 139, 153, 0.35)',
  label: '#e6edf3',
} as const;

const AXIS_W = 72;
const AXIS_H = 22;
const FONT = '11px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace';

interface Frame {
  ctx: CanvasRenderingContext2D;
  w: number;
  h: number;
}

/** Sizes the backing store to the element and the pixel ratio; undefined while hidden. */
function begin(canvas: HTMLCanvasElement): Frame | undefined {
  const dpr = globalThis.devicePixelRatio || 1;
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  const ctx = canvas.getContext('2d');
  if (ctx === null || w === 0 || h === 0) return undefined;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.fillStyle = COLORS.background;
  ctx.fillRect(0, 0, w, h);
  ctx.font = FONT;
  return { ctx, w, h };
}

/** About `count` round values covering [min, max]. */
export function niceTicks(min: number, max: number, count: number): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].find((m) => m * mag >= raw) ?? 10) * mag;
  const out: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) out.push(v);
  return out;
}

function decimalsFor(step: number): number {
  return step >= 1 ? 2 : Math.min(8, Math.ceil(-Math.log10(step)) + 1);
}

function padded(lo: number, hi: number): [number, number] {
  const pad = (hi - lo) * 0.08 || Math.abs(hi) * 0.001 || 1;
  return [lo - pad, hi + pad];
}

/** Grid lines and labels; labels within a tag's height of `tagAt` (the price tag) are left out. */
function yAxis(
  f: Frame,
  lo: number,
  hi: number,
  top: number,
  bottom: number,
  tagAt: number,
): (v: number) => number {
  const y = (v: number) => bottom - ((v - lo) / (hi - lo)) * (bottom - top);
  const ticks = niceTicks(lo, hi, 5);
  const dec = decimalsFor(ticks.length > 1 ? (ticks[1] ?? 0) - (ticks[0] ?? 0) : 1);
  f.ctx.textAlign = 'left';
  f.ctx.textBaseline = 'middle';
  for (const v of ticks) {
    const py = Math.round(y(v)) + 0.5;
    f.ctx.strokeStyle = COLORS.grid;
    f.ctx.beginPath();
    f.ctx.moveTo(0, py);
    f.ctx.lineTo(f.w - AXIS_W, py);
    f.ctx.stroke();
    f.ctx.fillStyle = COLORS.axis;
    if (Math.abs(py - y(tagAt)) > 18) f.ctx.fillText(v.toFixed(dec), f.w - AXIS_W + 6, py);
  }
  return y;
}

const TIME_STEPS = [
  1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000,
  1_800_000, 3_600_000, 7_200_000, 21_600_000, 43_200_000, 86_400_000, 604_800_000,
];

/** Round times between t0 and t1 (UTC), at most `max` of them, and their label. */
export function timeTicks(t0: number, t1: number, max: number): { t: number; label: string }[] {
  const step = TIME_STEPS.find((s) => (t1 - t0) / s <= max) ?? 604_800_000;
  const out: { t: number; label: string }[] = [];
  for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
    const iso = new Date(t).toISOString();
    const label =
      step >= 86_400_000
        ? iso.slice(5, 10)
        : step >= 60_000
          ? iso.slice(11, 16)
          : iso.slice(11, 19);
    out.push({ t, label });
  }
  return out;
}

function xLabels(f: Frame, t0: number, t1: number, x: (t: number) => number): void {
  f.ctx.fillStyle = COLORS.axis;
  f.ctx.textAlign = 'center';
  f.ctx.textBaseline = 'bottom';
  const max = Math.max(2, Math.floor((f.w - AXIS_W) / 90));
  for (const { t, label } of timeTicks(t0, t1, max)) {
    const px = x(t);
    if (px < 20 || px > f.w - AXIS_W - 20) continue;
    f.ctx.fillText(label, px, f.h - 4);
  }
}

function priceTag(f: Frame, py: number, text: string, color: string): void {
  f.ctx.fillStyle = color;
  f.ctx.fillRect(f.w - AXIS_W, py - 8, AXIS_W, 16);
  f.ctx.fillStyle = '#ffffff';
  f.ctx.textAlign = 'left';
  f.ctx.textBaseline = 'middle';
  f.ctx.fillText(text, f.w - AXIS_W + 6, py);
}

function message(f: Frame, text: string): void {
  f.ctx.fillStyle = COLORS.axis;
  f.ctx.textAlign = 'center';
  f.ctx.textBaseline = 'middle';
  f.ctx.fillText(text, f.w / 2, f.h / 2);
}

/** The live price line; returns the number of points drawn. */
export function drawPriceChart(canvas: HTMLCanvasElement, points: readonly PricePoint[]): number {
  const f = begin(canvas);
  if (f === undefined) return 0;
  if (points.length < 2) {
    message(f, 'waiting for trades…');
    return 0;
  }
  const first = points[0] as PricePoint;
  const last = points.at(-1) as PricePoint;
  const t0 = first.t;
  const t1 = Math.max(last.t, t0 + 1);
  let lo = Infinity;
  let hi = -Infinity;
  for (const p of points) {
    lo = Math.min(lo, p.price);
    hi = Math.max(hi, p.price);
  }
  [lo, hi] = padded(lo, hi);
  const plotW = f.w - AXIS_W - 8;
  const x = (t: number) => 4 + ((t - t0) / (t1 - t0)) * plotW;
  const y = yAxis(f, lo, hi, 10, f.h - AXIS_H, last.price);
  xLabels(f, t0, t1, x);
  const { ctx } = f;
  ctx.beginPath();
  points.forEach((p, i) => {
    if (i === 0) ctx.moveTo(x(p.t), y(p.price));
    else ctx.lineTo(x(p.t), y(p.price));
  });
  ctx.strokeStyle = COLORS.line;
  ctx.lineWidth = 1.5;
  ctx.stroke();
  ctx.lineTo(x(last.t), f.h - AXIS_H);
  ctx.lineTo(x(t0), f.h - AXIS_H);
  ctx.closePath();
  ctx.fillStyle = COLORS.fill;
  ctx.fill();
  ctx.lineWidth = 1;
  priceTag(f, y(last.price), String(last.price), COLORS.line);
  return points.length;
}

/** OHLC candles with volume underneath; returns the number of candles drawn. */
export function drawCandleChart(
  canvas: HTMLCanvasElement,
  candles: readonly CandleBar[],
  widthMs: number,
  note?: string,
): number {
  const f = begin(canvas);
  if (f === undefined) return 0;
  if (candles.length === 0) {
    message(f, note ?? 'no candles in this range yet');
    return 0;
  }
  const shown = candles.slice(-Math.max(10, Math.floor((f.w - AXIS_W) / 7)));
  const first = shown[0] as CandleBar;
  const last = shown.at(-1) as CandleBar;
  const slots = Math.max(30, Math.round((last.t - first.t) / widthMs) + 1);
  const t0 = last.t - (slots - 1) * widthMs;
  const plotW = f.w - AXIS_W - 8;
  const slotW = plotW / slots;
  const x = (t: number) => 4 + ((t - t0) / widthMs + 0.5) * slotW;
  let lo = Infinity;
  let hi = -Infinity;
  let vmax = 0;
  for (const c of shown) {
    lo = Math.min(lo, c.l);
    hi = Math.max(hi, c.h);
    vmax = Math.max(vmax, c.v);
  }
  [lo, hi] = padded(lo, hi);
  const volTop = f.h - AXIS_H - (f.h - AXIS_H) * 0.2;
  const y = yAxis(f, lo, hi, 10, volTop - 6, last.c);
  xLabels(f, t0, last.t + widthMs, (t) => x(t) - slotW / 2);
  const { ctx } = f;
  const bodyW = Math.max(1, Math.min(14, slotW * 0.7));
  for (const c of shown) {
    const cx = Math.round(x(c.t)) + 0.5;
    const color = c.c >= c.o ? COLORS.up : COLORS.down;
    if (vmax > 0) {
      const vh = (c.v / vmax) * (f.h - AXIS_H - volTop);
      ctx.fillStyle = COLORS.volume;
      ctx.fillRect(cx - bodyW / 2, f.h - AXIS_H - vh, bodyW, vh);
    }
    ctx.strokeStyle = color;
    ctx.beginPath();
    ctx.moveTo(cx, y(c.h));
    ctx.lineTo(cx, y(c.l));
    ctx.stroke();
    const top = y(Math.max(c.o, c.c));
    ctx.fillStyle = color;
    ctx.fillRect(cx - bodyW / 2, top, bodyW, Math.max(1, y(Math.min(c.o, c.c)) - top));
  }
  priceTag(f, y(last.c), String(last.c), last.c >= last.o ? COLORS.up : COLORS.down);
  return shown.length;
}
