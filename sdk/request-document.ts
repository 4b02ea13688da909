/**
 * What `modelhub run --input-file` reads: the inputs themselves, or a whole run request
 * (`{"inputs": …, "parameters": {…}}`) as the demo request files, the catalogue's request.json and
 * curl examples hold it, so that one file serves curl and the CLI alike.
 */

export interface RunRequestParts {
  inputs: unknown;
  parameters?: Record<string, unknown>;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const REQUEST_KEYS = new Set(['inputs', 'parameters']);

/**
 * An object whose keys are `inputs` and at most `parameters` (an object) is read as a request;
 * anything else is the inputs. A servable whose one input is itself named `inputs` is still
 * reachable: wrap it once more, `{"inputs": {"inputs": …}}`.
 */
export function splitRunRequest(document: unknown): RunRequestParts {
  if (!isPlainObject(document) || !('inputs' in document)) return { inputs: document };
  if (!Object.keys(document).every((key) => REQUEST_KEYS.has(key))) return { inputs: document };
  const { inputs, parameters } = document;
  if (parameters === undefined) return { inputs };
  if (!isPlainObject(parameters)) return { inputs: document };
  return { inputs, parameters };
}
