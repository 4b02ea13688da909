/**
 * A servable's declared argument types as JSON Schema, so that a per-servable Action Provider's
 * introspection tells a flow author (and `modelhub flow validate`) exactly what `inputs` it takes.
 */
import { ENDPOINT_NAME_PATTERN, type ArgumentType, type Dtype, type PublishedMetadata } from '../../../schemas/metadata.ts';

export type JsonSchema = Record<string, unknown>;

const INTEGER_DTYPES: ReadonlySet<Dtype> = new Set([
  'uint8', 'uint16', 'uint32', 'uint64', 'int8', 'int16', 'int32', 'int64',
]);

function elementSchema(dtype: Dtype): JsonSchema {
  if (dtype === 'string') return { type: 'string' };
  // JSON has no booleans in numeric tensors by habit: accept true/false and 0/1.
  if (dtype === 'bool') return { anyOf: [{ type: 'boolean' }, { enum: [0, 1] }] };
  if (INTEGER_DTYPES.has(dtype)) {
    return dtype.startsWith('uint') ? { type: 'integer', minimum: 0 } : { type: 'integer' };
  }
  return { type: 'number' };
}

function withDescription(schema: JsonSchema, description: string | undefined): JsonSchema {
  return description ? { ...schema, description } : schema;
}

export function argumentTypeToJsonSchema(argument: ArgumentType): JsonSchema {
  switch (argument.type) {
    case 'ndarray': {
      // Innermost dimension first: each level wraps the one inside it in an array.
      let schema = elementSchema(argument.dtype);
      for (let axis = argument.shape.length - 1; axis >= 0; axis -= 1) {
        const size = argument.shape[axis];
        schema = {
          type: 'array',
          items: schema,
          ...(typeof size === 'number' ? { minItems: size, maxItems: size } : {}),
        };
      }
      const shape = argument.shape.map((d) => (d === null ? 'any' : String(d))).join(', ');
      return withDescription(
        schema,
        argument.description ?? `${argument.dtype} tensor of shape [${shape}]`,
      );
    }
    case 'number':
    case 'integer':
    case 'string':
    case 'boolean':
      return withDescription({ type: argument.type }, argument.description);
    case 'file':
      return withDescription({ type: 'string', description: 'file contents or URL' }, argument.description);
    case 'any':
      return withDescription({}, argument.description);
    case 'list':
      return withDescription(
        { type: 'array', items: argumentTypeToJsonSchema(argument.item_type) },
        argument.description,
      );
    case 'dict': {
      const properties = Object.fromEntries(
        Object.entries(argument.properties).map(([key, value]) => [key, argumentTypeToJsonSchema(value)]),
      );
      return withDescription(
        { type: 'object', properties, required: Object.keys(properties), additionalProperties: false },
        argument.description,
      );
    }
    case 'tuple':
      return withDescription(
        {
          type: 'array',
          items: argument.element_types.map(argumentTypeToJsonSchema),
          additionalItems: false,
          minItems: argument.element_types.length,
          maxItems: argument.element_types.length,
        },
        argument.description,
      );
  }
}

/** The `input_schema` of `/actions/servables/{owner}/{name}`: the action body for that servable. */
export function servableActionInputSchema(document: PublishedMetadata): JsonSchema {
  const run = document.servable.methods.run;
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: `Inputs of ${document.hub.owner}/${document.hub.name}`,
    type: 'object',
    properties: {
      inputs: argumentTypeToJsonSchema(run.input),
      parameters: { type: 'object', description: 'run parameters of the servable' },
      version: { type: 'integer', minimum: 1, description: 'a published version; the latest by default' },
      endpoint: { type: 'string', pattern: ENDPOINT_NAME_PATTERN, description: 'a compute endpoint (owner/name) to run on' },
    },
    required: ['inputs'],
    additionalProperties: false,
  };
}
