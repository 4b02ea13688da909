/**
 * The provenance record a run can carry (`"provenance": true`, `?provenance=true`, v2
 * `parameters.provenance`): which servable version, which files, which runtime and hub, when, and
 * digests of what went in and came out (docs/provenance.md).
 */
import { Type, type Static } from '@sinclair/typebox';

export const ProvenanceRecord = Type.Object(
  {
    run_id: Type.String({ description: 'names the stored record: GET /api/v1/runs/{run_id}/crate' }),
    servable: Type.String(),
    version: Type.Integer(),
    identifier: Type.String({ description: "the version's persistent identifier (a DOI where one was minted)" }),
    method: Type.String(),
    files: Type.Array(Type.Object({ path: Type.String(), sha256: Type.String(), size: Type.Integer() })),
    runtime: Type.Object(
      {
        type: Type.String({ description: 'the servable type (onnx, tfjs, python, ...)' }),
        name: Type.String({ description: 'the runtime library or interpreter' }),
        version: Type.String(),
        packages: Type.Optional(Type.Record(Type.String(), Type.String())),
        image: Type.Optional(Type.String({ description: 'container image (digest where known)' })),
      },
      { additionalProperties: true },
    ),
    hub: Type.Object({ name: Type.String(), version: Type.String(), node: Type.String() }),
    endpoint: Type.Union([Type.String(), Type.Null()], { description: 'the compute endpoint the run went to; null: this hub' }),
    started_at: Type.String({ description: 'when the run that computed the output was received (ISO 8601)' }),
    duration_ms: Type.Number(),
    inputs_sha256: Type.String({ description: 'sha256 of the canonical JSON of the inputs (object keys sorted)' }),
    parameters_sha256: Type.String(),
    outputs_sha256: Type.String({ description: 'sha256 of the canonical JSON of the output' }),
    batch: Type.Optional(
      Type.Object(
        {
          task_id: Type.String(),
          dataset: Type.Object({ sha256: Type.String(), format: Type.String(), filename: Type.Optional(Type.String()), records: Type.Integer() }),
          results: Type.Object({ sha256: Type.String(), size: Type.Integer(), format: Type.Literal('ndjson') }),
          succeeded: Type.Integer(),
          failed: Type.Integer(),
        },
        { description: 'a batch run: inputs_sha256 is the data set file\'s sha256 and outputs_sha256 the results file\'s (not canonical JSON)' },
      ),
    ),
  },
  { additionalProperties: false },
);
export type ProvenanceRecord = Static<typeof ProvenanceRecord>;

/** A reproducibility check of a version's examples (`POST …/verify`, `GET …/reproducibility`). */
const Outcome = Type.Object({
  example: Type.String(),
  status: Type.String(),
  output: Type.Optional(Type.String()),
  difference: Type.Optional(Type.Number()),
  message: Type.Optional(Type.String()),
});
export const CheckReply = Type.Object({
  servable: Type.String(),
  version: Type.Integer(),
  status: Type.Union([Type.Literal('reproducible'), Type.Literal('drifted'), Type.Literal('fails')]),
  summary: Type.String(),
  checked_at: Type.String(),
  reason: Type.String(),
  runtime: Type.String(),
  examples: Type.Array(Outcome),
});

export type CheckReply = Static<typeof CheckReply>;
