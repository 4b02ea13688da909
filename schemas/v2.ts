/**
 * Documents of the Open Inference Protocol (KServe v2) REST API: inference requests and replies.
 */
import { Type, type Static } from '@sinclair/typebox';

export const InferInput = Type.Object({
  name: Type.String(),
  shape: Type.Array(Type.Integer({ minimum: 0 })),
  datatype: Type.String(),
  parameters: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  data: Type.Optional(Type.Unknown()),
});
export const InferRequest = Type.Object({
  id: Type.Optional(Type.String()),
  parameters: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  inputs: Type.Array(InferInput, { minItems: 1 }),
  outputs: Type.Optional(
    Type.Array(Type.Object({ name: Type.String(), parameters: Type.Optional(Type.Record(Type.String(), Type.Unknown())) })),
  ),
});
export type InferRequest = Static<typeof InferRequest>;

export const InferOutput = Type.Object({
  name: Type.String(),
  shape: Type.Array(Type.Integer()),
  datatype: Type.String(),
  parameters: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  data: Type.Optional(Type.Unknown()),
});
export const InferResponse = Type.Object({
  model_name: Type.String(),
  model_version: Type.Optional(Type.String()),
  id: Type.Optional(Type.String()),
  parameters: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  outputs: Type.Array(InferOutput),
});
export type InferResponse = Static<typeof InferResponse>;


/**
 * Triton's model repository extension (docs/protocol/extension_model_repository.md): the index of
 * models, and load/unload requests. Both bodies are optional on the wire.
 */
export const RepositoryIndexRequest = Type.Object({ ready: Type.Optional(Type.Boolean()) });
export type RepositoryIndexRequest = Static<typeof RepositoryIndexRequest>;
export const RepositoryIndexEntry = Type.Object({
  name: Type.String(),
  version: Type.Optional(Type.String()),
  /** READY: resident, answering without a load; UNAVAILABLE: not resident (loads on its first request). */
  state: Type.String(),
  reason: Type.String(),
});
export type RepositoryIndexEntry = Static<typeof RepositoryIndexEntry>;
export const RepositoryModelRequest = Type.Object({ parameters: Type.Optional(Type.Record(Type.String(), Type.Unknown())) });
export type RepositoryModelRequest = Static<typeof RepositoryModelRequest>;
