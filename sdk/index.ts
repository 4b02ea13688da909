/**
 * The modelhub SDK: describe a model, publish it, find it, cite it and run it.
 *
 *   const model = (await OnnxModel.create('vad.onnx')).setName('alice/vad').setTitle('Silero VAD')
 *     .setAuthors(['Silero, Team']);
 *   const task = await new HubClient().publishServable(model);
 */
export { HubClient, type HubClientOptions, type RunOptions } from './hub-client.ts';
export { SearchQueryBuilder } from './query-builder.ts';
export {
  HubApiError,
  MetadataValidationError,
  CLIENT_ERROR_CODES,
  createApiError,
  parseApiError,
  isHubApiError,
  type MetadataProblem,
} from './errors.ts';
export { type HubParams, API_PREFIX } from './http.ts';
export { parseServableName, type ServableName } from './servable-name.ts';
export { metadataProblems, assertValidMetadata } from './validate-metadata.ts';
export { packFiles, planUpload, ARCHIVE_NAME, type UploadPart, type UploadPlan } from './pack-files.ts';
export {
  DEFAULT_HUB_URL,
  readSavedLogin,
  saveLogin,
  savedLoginPath,
  resolveConnection,
  type SavedLogin,
} from './saved-login.ts';

export {
  ServableDescription,
  type ServableFile,
  type MetadataDraft,
  type Batching,
  type FundingReference,
  type RelatedIdentifierType,
  type RelationType,
  type Visibility,
} from './models/servable-description.ts';
export { OnnxModel } from './models/onnx-model.ts';
export { MetadataServable, findPlaceholders } from './models/metadata-servable.ts';
export { KerasModel } from './models/keras-model.ts';
export { TfjsModel } from './models/tfjs-model.ts';
export { SklearnModel, type SklearnModelOptions } from './models/sklearn-model.ts';
export { TorchModel, type TorchModelOptions } from './models/torch-model.ts';
export { PythonFunction, type PythonFunctionOptions } from './models/python-function.ts';
export { ContainerServable } from './models/container-servable.ts';
export {
  METADATA_FILE,
  defaultMetadataPath,
  describeModelPath,
  detectServableType,
  loadServable,
  metadataTemplate,
} from './models/from-path.ts';

export { publishServable, publishServableProgress, type PublishEvent, type PublishParams } from './operations/publish-servable.ts';
export { runServable, type RunParams } from './operations/run-servable.ts';
export { getTaskStatus } from './operations/get-task-status.ts';
export { waitForTask } from './operations/wait-for-task.ts';
export { watchTask, isFinished, type TaskEvent, type WatchOptions } from './operations/watch-task.ts';
export { describeServable } from './operations/describe-servable.ts';
export { listVersions, type VersionEntry } from './operations/list-versions.ts';
export { listServables, type ListServablesParams, type ServableListItem } from './operations/list-servables.ts';
export { searchServables } from './operations/search-servables.ts';
export { citeServable, CITATION_FORMATS, type CitationFormat } from './operations/cite-servable.ts';
export { createCollection, getCollection, searchCollections, citeCollection } from './operations/collections.ts';
export type { CollectionCreate, CollectionView, CollectionMember } from '../schemas/collections.ts';
export { downloadServable, downloadServableProgress, type DownloadEvent, type DownloadParams } from './operations/download-servable.ts';
export { publishFromGit, publishFromGitProgress, parseGitSpec, type GitPublishParams } from './operations/publish-from-git.ts';
export { withdrawServable } from './operations/withdraw-servable.ts';
export { resolveIdentifier, type ResolvedIdentifier } from './operations/resolve-identifier.ts';

export * from './flows/index.ts';

export type { RunReply, TaskDocument, TaskStep, TaskStatus, SearchReply, SearchHit, SearchSort, PublishAccepted } from '../schemas/api.ts';
export { SEARCH_SORTS } from '../schemas/api.ts';
export type { ServableMetadata, PublishedMetadata, ArgumentType, Method, ServableType, Creator, RelatedIdentifier } from '../schemas/metadata.ts';
