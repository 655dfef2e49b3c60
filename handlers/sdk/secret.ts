import type { z } from 'zod';

/**
 * Marks a per-batch option as secret (a signing secret, an API token, a URL with a password):
 * the gateway stores it encrypted with SECRETS_KEY, never returns it through REST or GraphQL
 * (it shows `********` instead), and the fleet decrypts it when the handler runs. Mark the
 * whole top-level option: `secret(z.string().min(16)).optional().describe('...')`.
 *
 * The mark is JSON Schema's `writeOnly` in zod's global metadata, so it shows in
 * `Query.handlers`' schemas and survives `.optional()`, `.describe()` and a second copy of zod 4.
 */
export function secret<T extends z.ZodType>(schema: T): T {
  return schema.meta({ writeOnly: true }) as T;
}

type JsonSchema = {
  writeOnly?: boolean;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  additionalProperties?: unknown;
};

/** Whether a property of a JSON Schema (as zod writes it) is marked secret, also when nullable. */
const marked = (json: JsonSchema): boolean => json.writeOnly === true || !!(json.anyOf ?? json.oneOf)?.some((v) => v.writeOnly === true);

/**
 * The names of the top-level options marked {@link secret} in an options JSON Schema
 * (`toJsonSchema(definition.options)`). Throws when a nested property is marked: only a
 * whole top-level option can be stored encrypted.
 */
export function secretOptionNames(schema: Record<string, unknown>): string[] {
  const properties = (schema as JsonSchema).properties ?? {};
  for (const [name, prop] of Object.entries(properties)) {
    const nested = nestedMark(prop, name);
    if (nested)
      throw new Error(`option ${nested} is marked secret inside another option; mark the whole top-level option "${name}" secret instead`);
  }
  return Object.entries(properties)
    .filter(([, prop]) => marked(prop))
    .map(([name]) => name);
}

function nestedMark(json: JsonSchema, path: string): string | null {
  const inner = [...(json.anyOf ?? []), ...(json.oneOf ?? []), json];
  for (const part of inner) {
    for (const [key, prop] of Object.entries(part.properties ?? {})) {
      if (marked(prop)) return `${path}.${key}`;
      const deeper = nestedMark(prop, `${path}.${key}`);
      if (deeper) return deeper;
    }
    if (part.items) {
      if (marked(part.items)) return `${path}[]`;
      const deeper = nestedMark(part.items, `${path}[]`);
      if (deeper) return deeper;
    }
  }
  return null;
}
