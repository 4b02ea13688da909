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

