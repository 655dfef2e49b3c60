import type { InstalledHandler } from './registry.ts';
import { ManifestError } from './errors.ts';

/**
 * The handlers each installed handler runs after (its definition's `after` merged with its
 * manifest entry's), checked: every
 * name must be installed and the order must have no cycle, or no run of the handlers in it
 * could ever start. Throws a {@link ManifestError} naming the manifest and the handlers.
 */
export function handlerOrder(installed: readonly InstalledHandler[]): Record<string, readonly string[]> {
  const byName = new Map(installed.map((h) => [h.name, h]));
  const order: Record<string, readonly string[]> = {};
  for (const handler of installed) {
    const after = [...(handler.definition.after ?? []), ...(handler.after ?? [])];
    for (const name of after) {
      if (!byName.has(name)) {
        const known = [...byName.keys()].join(', ');
        throw new ManifestError(
          handler.manifest,
          `handler "${handler.name}" runs after "${name}", which is not installed (installed: ${known}); install it or remove it from "after"`,
        );
      }
      if (name === handler.name) throw new ManifestError(handler.manifest, `handler "${handler.name}" names itself in "after"`);
    }
    if (after.length) order[handler.name] = [...new Set(after)];
  }
  const cycle = findCycle(order);
  if (cycle) {
    const first = byName.get(cycle[0] ?? '');
    throw new ManifestError(
      first?.manifest ?? '(registry)',
      `handlers wait for each other in a circle through "after" (${cycle.join(' → ')}): none of them could ever run; remove one of these "after" entries`,
    );
  }
  return order;
}

/** A cycle of the order as the names along it (first repeated at the end), or undefined. */
function findCycle(order: Record<string, readonly string[]>): string[] | undefined {
  const done = new Set<string>();
  const path: string[] = [];
  const visit = (name: string): string[] | undefined => {
    const at = path.indexOf(name);
    if (at >= 0) return [...path.slice(at), name];
    if (done.has(name)) return undefined;
    path.push(name);
    for (const next of order[name] ?? []) {
      const found = visit(next);
      if (found) return found;
    }
    path.pop();
    done.add(name);
    return undefined;
  };
  for (const name of Object.keys(order)) {
    const found = visit(name);
    if (found) return found;
  }
  return undefined;
}
