// Rendering Vega-Lite specs headless: SVG through Vega's string renderer (no canvas, no browser),
// PNG from that SVG through sharp.
import sharp from 'sharp';
import type { TopLevelSpec } from 'vega-lite';

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  // Loaded on first use: Vega is most of a command's start-up time, and most runs (every failing
  // one among them) never draw a chart.
  const [vega, vl] = await Promise.all([import('vega'), import('vega-lite')]);
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** PNG of an SVG at the given scale (2 = twice the SVG's pixel size, sharp for print/retina). */
export async function svgToPng(svg: string, scale = 2): Promise<Buffer> {
  return sharp(Buffer.from(svg), { density: 72 * scale }).png().toBuffer();
}

