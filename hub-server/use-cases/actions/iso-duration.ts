/**
 * ISO 8601 durations as the Action Provider API uses them (`release_after`, `maximum_deadline`).
 * Years and months have no fixed length; they count as 365 and 30 days, which is what a
 * retention period needs.
 */
import { ISO8601_DURATION_PATTERN } from '../../../schemas/actions.ts';

const DURATION = new RegExp(ISO8601_DURATION_PATTERN);
const UNIT_SECONDS = [365 * 86400, 30 * 86400, 7 * 86400, 86400, 3600, 60, 1];

export function durationSeconds(duration: string): number {
  const match = DURATION.exec(duration);
  if (!match) throw new RangeError(`not an ISO 8601 duration: ${duration}`);
  // Groups: 1 Y, 2 M, 3 W, 4 D, 5 the whole T part, 6 H, 7 M, 8 S.
  const parts = [match[1], match[2], match[3], match[4], match[6], match[7], match[8]];
  return parts.reduce(
    (total, part, index) => total + (part ? Number.parseFloat(part) * UNIT_SECONDS[index] : 0),
    0,
  );
}

/** Seconds as a duration the documents show, in the largest exact unit. */
export function secondsToDuration(seconds: number): string {
  if (seconds > 0 && seconds % 86400 === 0) return `P${seconds / 86400}D`;
  if (seconds > 0 && seconds % 3600 === 0) return `PT${seconds / 3600}H`;
  if (seconds > 0 && seconds % 60 === 0) return `PT${seconds / 60}M`;
  return `PT${seconds}S`;
}
