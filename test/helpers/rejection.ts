import { expect } from 'vitest';
import { HubError } from '../../hub-server/errors.ts';

/** The HubError a promise rejects with; the test fails if it resolves or rejects with anything else. */
export async function rejection(promise: Promise<unknown>): Promise<HubError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(HubError);
  return error as HubError;
}
