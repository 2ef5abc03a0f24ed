/** JSON pointer segments (RFC 6901), as violation paths and local `$ref`s spell them. */

/** Escapes one JSON pointer segment: `~` -> `~0`, `/` -> `~1`. */
export function escapePointerSegment(segment: string): string {
  if (segment.indexOf('~') === -1 && segment.indexOf('/') === -1) return segment;
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Unescapes one JSON pointer segment: `~1` -> `/`, then `~0` -> `~` (in this order, so `~01` stays `~1`). */
export function unescapePointerSegment(segment: string): string {
  if (segment.indexOf('~') === -1) return segment;
  return segment.replace(/~1/g, '/').replace(/~0/g, '~');
}
