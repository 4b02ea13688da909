/**
 * The one error catalog. Every error the hub answers with has a stable `MODELHUB_*` code, a status
 * and a message template here; adapters translate their backend's errors into these at their
 * boundary. `test/unit/errors.test.ts` checks that every code is documented in docs/errors.md.
 */

export const ERROR_CATALOG = {
  BAD_REQUEST: { status: 400, message: 'The request is malformed: %s' },
  INVALID_METADATA: { status: 400, message: 'The metadata document is invalid: %s' },
  INVALID_ARCHIVE: { status: 400, message: 'The uploaded archive cannot be used: %s' },
  INVALID_MODEL: { status: 400, message: 'The model file cannot be used: %s' },
  INVALID_NAME: { status: 400, message: 'Not a valid servable name: %s' },
  CHECKSUM_MISMATCH: { status: 400, message: 'The uploaded bytes do not match their checksum: %s' },
  UNAUTHENTICATED: { status: 401, message: 'A valid token is required: %s' },
  FORBIDDEN: { status: 403, message: 'Not allowed: %s' },
  ENDPOINT_FORBIDDEN: { status: 403, message: 'This compute endpoint may not run it: %s' },
  SERVABLE_NOT_FOUND: { status: 404, message: 'No servable %s' },
  VERSION_NOT_FOUND: { status: 404, message: 'No version %s' },
  TASK_NOT_FOUND: { status: 404, message: 'No task %s' },
  IDENTIFIER_NOT_FOUND: { status: 404, message: 'No identifier %s' },
  ROUTE_NOT_FOUND: { status: 404, message: 'No route %s' },
  ACTION_NOT_FOUND: { status: 404, message: 'No action %s' },
  TOKEN_NOT_FOUND: { status: 404, message: 'No token %s' },
  ENDPOINT_NOT_FOUND: { status: 404, message: 'No compute endpoint %s' },
  RUN_NOT_FOUND: { status: 404, message: 'No stored run %s' },
  COLLECTION_NOT_FOUND: { status: 404, message: 'No collection %s' },
  COLLECTION_EXISTS: { status: 409, message: 'A collection of that name exists: %s' },
  COLLECTION_MEMBER_NOT_FOUND: { status: 422, message: 'A member of the collection is not a version its owner can see: %s' },
  WEBHOOK_NOT_FOUND: { status: 404, message: 'No webhook %s' },
  WEBHOOK_URL_REFUSED: { status: 400, message: 'The hub will not deliver webhooks to this URL: %s' },
  SERVABLE_WITHDRAWN: { status: 410, message: 'The servable %s was withdrawn' },
  COLLECTION_WITHDRAWN: { status: 410, message: 'The collection %s was withdrawn' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'Method not allowed: %s' },
  CONFLICT: { status: 409, message: 'Conflict: %s' },
  NOT_ACCEPTABLE: { status: 406, message: 'Cannot produce %s' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The upload is larger than the limit of %s' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Unsupported media type: %s' },
  INVALID_INPUTS: { status: 422, message: 'The inputs do not fit the servable: %s' },
  RATE_LIMITED: { status: 429, message: 'Too many requests: %s' },
  OVERLOADED: { status: 503, message: 'The servable is over capacity: %s' },
  DEADLINE_EXCEEDED: { status: 504, message: 'The request deadline passed: %s' },
  SERVABLE_FAILED: { status: 500, message: 'The servable failed: %s' },
  IMAGE_BUILD_FAILED: { status: 422, message: 'The container image failed to build: %s' },
  BUILD_FAILED: { status: 422, message: 'The servable\'s environment failed to build: %s' },
  RUNTIME_UNAVAILABLE: { status: 503, message: 'The runtime is not available on this hub: %s' },
  BACKEND_UNAVAILABLE: { status: 503, message: 'A backend is unavailable: %s' },
  NOT_READY: { status: 503, message: 'Not ready: %s' },
  ENDPOINT_OFFLINE: { status: 503, message: 'The compute endpoint is offline: %s' },
  INTERNAL: { status: 500, message: 'Internal error: %s' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorName = keyof typeof ERROR_CATALOG;
export type ErrorCode = `MODELHUB_${ErrorName}`;

export class HubError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details?: unknown;
  /** Seconds the client should wait before trying again (429/503). */
  readonly retryAfter?: number;

  constructor(
    name: ErrorName,
    detail: string,
    options: { details?: unknown; cause?: unknown; retryAfter?: number } = {},
  ) {
    const entry = ERROR_CATALOG[name];
    super(entry.message.replace('%s', detail), { cause: options.cause });
    this.name = 'HubError';
    this.code = `MODELHUB_${name}`;
    this.status = entry.status;
    this.details = options.details;
    this.retryAfter = options.retryAfter;
  }

  toJSON(): { error: { code: string; message: string; details?: unknown } } {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.details === undefined ? {} : { details: this.details }),
      },
    };
  }
}

export const isHubError = (value: unknown): value is HubError => value instanceof HubError;

/** Wrap anything thrown into a HubError, keeping HubErrors as they are. */
export function toHubError(error: unknown, fallback: ErrorName = 'INTERNAL'): HubError {
  if (isHubError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new HubError(fallback, message, { cause: error });
}

/**
 * A bearer token refused (RFC 6750 `invalid_token`): a 401 whose reason the hub repeats in the
 * `WWW-Authenticate` header, so a client can tell an expired token from a foreign one.
 */
export class InvalidTokenError extends HubError {
  constructor(readonly reason: string) {
    super('UNAUTHENTICATED', reason);
  }
}
