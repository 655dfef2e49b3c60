import { z } from 'zod';

/** A GraphQL input type, described without depending on any GraphQL library. */
export type InputTypeSpec =
  | { kind: 'scalar'; name: 'String' | 'Int' | 'Float' | 'Boolean' | 'JSON' }
  | { kind: 'enum'; name: string; description: string | undefined; values: string[] }
  | { kind: 'list'; of: InputTypeSpec }
  | InputObjectSpec;

/** A GraphQL input object type. */
export interface InputObjectSpec {
  kind: 'object';
  name: string;
  description: string | undefined;
  fields: InputFieldSpec[];
}

/** One field of an input object type. */
export interface InputFieldSpec {
  name: string;
  description: string | undefined;
  type: InputTypeSpec;
  required: boolean;
  /** The zod default, when it is plain JSON. */
  defaultValue?: unknown;
}

type JsonSchema = {
  type?: string | string[];
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  enum?: unknown[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  default?: unknown;
  const?: unknown;
  writeOnly?: boolean;
};

const GRAPHQL_NAME = /^[_A-Za-z][_0-9A-Za-z]*$/;
const pascal = (s: string) => s.replace(/(^|[^A-Za-z0-9])([A-Za-z0-9])/g, (_m, _p, c: string) => c.toUpperCase());

/** The JSON Schema of a zod schema as callers write it (input side: defaulted fields are optional). */
export function toJsonSchema(schema: z.ZodType): Record<string, unknown> {
  return z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}

/**
 * Converts a zod object schema to a GraphQL input object description: objects, strings,
 * numbers, integers, booleans, enums, arrays, optional and defaulted fields, nested
 * objects and descriptions. What GraphQL cannot say (unions, records, transforms)
 * becomes the JSON scalar; zod still validates it.
 */
export function toInputSpec(typeName: string, schema: z.ZodObject, description?: string): InputObjectSpec {
  const json = toJsonSchema(schema) as JsonSchema;
  return objectSpec(typeName, json, description ?? json.description);
}

function objectSpec(name: string, json: JsonSchema, description: string | undefined): InputObjectSpec {
  const required = new Set(json.required ?? []);
  const fields = Object.entries(json.properties ?? {}).map(([field, prop]): InputFieldSpec => {
    if (!GRAPHQL_NAME.test(field)) throw new Error(`option "${field}" of ${name} is not a valid GraphQL name (letters, digits, _)`);
    const inner = unwrapNullable(prop);
    const spec: InputFieldSpec = {
      name: field,
      description: secretNote(prop.description ?? inner.description, prop.writeOnly ?? inner.writeOnly),
      type: typeSpec(`${name}${pascal(field)}`, inner),
      required: required.has(field) && inner === prop,
    };
    if (prop.default !== undefined && isPlain(spec.type)) spec.defaultValue = prop.default;
    return spec;
  });
  // GraphQL has no empty input objects; a handler without options still gets a type.
  if (fields.length === 0) {
    fields.push({
      name: '_',
      description: 'This handler has no per-batch options; pass {} or omit this field.',
      type: { kind: 'scalar', name: 'Boolean' },
      required: false,
    });
  }
  return { kind: 'object', name, description, fields };
}

function typeSpec(name: string, json: JsonSchema): InputTypeSpec {
  if (
    Array.isArray(json.enum) &&
    json.enum.length > 0 &&
    json.enum.every((v) => typeof v === 'string' && GRAPHQL_NAME.test(v) && !['true', 'false', 'null'].includes(v))
  ) {
    return { kind: 'enum', name, description: json.description, values: json.enum as string[] };
  }
  switch (json.type) {
    case 'string':
      return { kind: 'scalar', name: 'String' };
    case 'integer':
      return { kind: 'scalar', name: 'Int' };
    case 'number':
      return { kind: 'scalar', name: 'Float' };
    case 'boolean':
      return { kind: 'scalar', name: 'Boolean' };
    case 'array':
      return json.items ? { kind: 'list', of: typeSpec(name, unwrapNullable(json.items)) } : { kind: 'scalar', name: 'JSON' };
    case 'object':
      // A record (no fixed properties) has no GraphQL input shape.
      return json.properties ? objectSpec(name, json, json.description) : { kind: 'scalar', name: 'JSON' };
    default:
      return { kind: 'scalar', name: 'JSON' };
  }
}

/** `X | null` (written as anyOf or a type array) is an optional X in GraphQL. */
function unwrapNullable(json: JsonSchema): JsonSchema {
  const variants = json.anyOf ?? json.oneOf;
  if (variants) {
    const rest = variants.filter((v) => v.type !== 'null');
    if (rest.length === 1 && rest.length < variants.length) return { ...rest[0], description: json.description ?? rest[0]?.description };
  }
  if (Array.isArray(json.type)) {
    const rest = json.type.filter((t) => t !== 'null');
    if (rest.length === 1 && rest.length < json.type.length) return { ...json, type: rest[0] };
  }
  return json;
}

/** A secret option says so in GraphQL, where users read the options' docs. */
function secretNote(description: string | undefined, secret: boolean | undefined): string | undefined {
  if (!secret) return description;
  return `${description ? `${description} ` : ''}Secret: stored encrypted, and shown as ******** when the batch is read.`;
}

function isPlain(type: InputTypeSpec): boolean {
  return type.kind === 'scalar' ? type.name !== 'JSON' : type.kind === 'enum' || (type.kind === 'list' && isPlain(type.of));
}
