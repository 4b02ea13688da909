/** `owner/name` and `owner/name@version`, as API.md defines them. */
import { NAME_PATTERN, OWNER_PATTERN } from '../schemas/metadata.ts';

export interface ServableName {
  owner: string;
  name: string;
  version?: number;
}

const OWNER = new RegExp(OWNER_PATTERN);
const NAME = new RegExp(NAME_PATTERN);

export function parseServableName(text: string, version?: number): ServableName {
  const match = /^([^/@]+)\/([^/@]+)(?:@(\d+))?$/.exec(text.trim());
  if (!match || !OWNER.test(match[1]!) || !NAME.test(match[2]!)) {
    throw new TypeError(
      `"${text}" is not a servable name: expected owner/name or owner/name@version (lower-case letters, digits, - . _)`,
    );
  }
  const parsed = match[3] === undefined ? version : Number(match[3]);
  if (parsed !== undefined && (!Number.isInteger(parsed) || parsed < 1)) {
    throw new TypeError(`"${parsed}" is not a version: versions are 1, 2, 3 ...`);
  }
  return { owner: match[1]!, name: match[2]!, ...(parsed === undefined ? {} : { version: parsed }) };
}

/** `/servables/{owner}/{name}` or `/servables/{owner}/{name}/versions/{v}`. */
export function servablePath(ref: ServableName): string {
  const base = `/servables/${encodeURIComponent(ref.owner)}/${encodeURIComponent(ref.name)}`;
  return ref.version === undefined ? base : `${base}/versions/${ref.version}`;
}
