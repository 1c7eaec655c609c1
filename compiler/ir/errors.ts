// Graph IR · errors raised while building or checking graphs. A ShapeError names
// the op, the shapes involved and the user's source line (the first stack frame
// outside kiln's own dsl/, compiler/ and runtime/ folders), so a mistake in a
// model file points at the model file.

import { fileURLToPath } from 'node:url';
import * as path from 'node:path';

export type Shape = readonly number[];

const libraryRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const libraryDirs = ['compiler', 'dsl', 'runtime'].map((dir) => path.join(libraryRoot, dir) + path.sep);

/** "file:line" of the innermost stack frame that is not inside kiln's library folders. */
export function userLocation(stack: string | undefined = new Error().stack): string | undefined {
  if (stack === undefined) return undefined;
  for (const line of stack.split('\n').slice(1)) {
    const match = /\(?((?:file:\/\/)?\/[^():]+):(\d+):\d+\)?\s*$/.exec(line);
    if (!match || match[1] === undefined) continue;
    const file = match[1].startsWith('file://') ? fileURLToPath(match[1]) : match[1];
    if (file.includes(`${path.sep}node_modules${path.sep}`) || file.startsWith('node:')) continue;
    if (libraryDirs.some((dir) => file.startsWith(dir))) continue;
    return `${path.relative(process.cwd(), file) || file}:${match[2]}`;
  }
  return undefined;
}

export function formatShape(shape: Shape): string {
  return `[${shape.join(',')}]`;
}

/** A shape or dtype mismatch found while tracing: names the op, the shapes and where the user called it. */
export class ShapeError extends Error {
  override readonly name = 'ShapeError';
  readonly location: string | undefined;

  constructor(
    readonly op: string,
    readonly shapes: readonly Shape[],
    readonly detail: string,
  ) {
    const location = userLocation();
    const shapeText = shapes.map(formatShape).join(' and ');
    super(`${op}: ${detail}${shapeText ? ` (shapes ${shapeText})` : ''}${location ? ` at ${location}` : ''}`);
    this.location = location;
  }
}

/** A graph that breaks an IR invariant (wrong arity, dtype or recorded shape); raised by the verifier. */
export class IRError extends Error {
  override readonly name = 'IRError';
}
