/**
 * Errors the SDK throws. `HubApiError` carries what the hub said (`{"error": {code, message,
 * details}}`) so callers can branch on the stable `code`; `MetadataValidationError` lists every
 * path of a metadata document that fails the schema, before anything is sent.
 */

/** Codes the SDK itself uses when the hub gave no error document of its own. */
export const CLIENT_ERROR_CODES = {
  /** The hub could not be reached (refused, DNS, reset). `status` is 0. */
  connectionFailed: 'MODELHUB_CONNECTION_FAILED',
  /** `waitForTask` gave up before the task finished. `status` is 0. */
  clientTimeout: 'MODELHUB_CLIENT_TIMEOUT',
  /** A reply that is not the hub's error document (a proxy's HTML page, the v2 protocol's shape). */
  httpError: 'MODELHUB_HTTP_ERROR',
} as const;

export class HubApiError extends Error {
  /** HTTP status; 0 when no reply came. */
  readonly status: number;
  /** Stable `MODELHUB_*` code, from the hub's catalog or `CLIENT_ERROR_CODES`. */
  readonly code: string;
  readonly url: string;
  readonly details?: unknown;
  /** The `x-request-id` reply header, when the hub sent one. */
  readonly requestId?: string;

  constructor(init: {
    status: number;
    code: string;
    message: string;
    url: string;
    details?: unknown;
    requestId?: string;
    cause?: unknown;
  }) {
    super(init.message, { cause: init.cause });
    this.name = 'HubApiError';
    this.status = init.status;
    this.code = init.code;
    this.url = init.url;
    this.details = init.details;
    this.requestId = init.requestId;
  }

  toJSON(): { error: { code: string; message: string; status: number; url: string; details?: unknown } } {
    return {
      error: {
        code: this.code,
        message: this.message,
        status: this.status,
        url: this.url,
        ...(this.details === undefined ? {} : { details: this.details }),
      },
    };
  }
}

export const isHubApiError = (value: unknown): value is HubApiError => value instanceof HubApiError;

/** Build a HubApiError from a non-2xx reply, whatever its body holds. */
export async function createApiError(response: Response): Promise<HubApiError> {
  const text = await response.text().catch(() => '');
  return parseApiError(response.status, response.url, text, response.headers.get('x-request-id') ?? undefined);
}

export function parseApiError(status: number, url: string, body: string, requestId?: string): HubApiError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    parsed = undefined;
  }
  const error = (parsed as { error?: unknown } | undefined)?.error;
  if (error && typeof error === 'object' && typeof (error as { code?: unknown }).code === 'string') {
    const { code, message, details } = error as { code: string; message?: unknown; details?: unknown };
    return new HubApiError({
      status,
      code,
      message: typeof message === 'string' ? message : code,
      url,
      details,
      requestId,
    });
  }
  // The v2 inference protocol answers `{"error": "<message>"}`; anything else is shown as is.
  const message =
    typeof error === 'string' ? error : body.trim().slice(0, 500) || `HTTP ${status} from ${url}`;
  return new HubApiError({ status, code: CLIENT_ERROR_CODES.httpError, message, url, requestId });
}

export interface MetadataProblem {
  /** JSON pointer into the metadata document, e.g. `/datacite/creators/0/orcid`. */
  path: string;
  message: string;
}

export class MetadataValidationError extends Error {
  readonly code = 'MODELHUB_INVALID_METADATA';
  readonly problems: MetadataProblem[];

  constructor(problems: MetadataProblem[]) {
    super(
      `The metadata document is invalid:\n${problems.map((p) => `  ${p.path || '/'}: ${p.message}`).join('\n')}`,
    );
    this.name = 'MetadataValidationError';
    this.problems = problems;
  }
}
