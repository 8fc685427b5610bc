import jsonpatch from 'fast-json-patch';
import type { PatchOperation } from '../schemas/api.ts';

export type { PatchOperation };

/**
 * An RFC 6902 JSON Patch that turns `from` into `to` (fast-json-patch's `compare`): what an editor
 * reviews and what a record's history shows. Neither argument is changed.
 */
export function diff(from: object, to: object): PatchOperation[] {
  return jsonpatch.compare(from, to) as PatchOperation[];
}

/** `doc` with `patch` applied, on a copy; throws when an operation does not apply. */
export function applyPatch<T>(doc: T, patch: ReadonlyArray<PatchOperation>): T {
  return jsonpatch.applyPatch(jsonpatch.deepClone(doc), patch as jsonpatch.Operation[], true, true).newDocument;
}
