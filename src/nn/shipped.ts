// The networks shipped with the package (cfg/), found from the installed code: dist/src/nn/ or src/nn/
// → package root → cfg/.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function shippedCfg(name: string): string {
  for (const rel of ['../../../cfg/', '../../cfg/']) {
    const path = fileURLToPath(new URL(rel + name, import.meta.url));
    if (existsSync(path)) return path;
  }
  throw new Error(`shipped cfg ${name} not found next to the package`);
}
