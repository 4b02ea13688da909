import { expect } from 'vitest';
import { HubError } from '../../schemas/errors.ts';

/** The HubError a promise rejects with; the test fails if it resolves or rejects with anything else. */
export async function rejection(promise: Promise<unknown>): Promise<HubError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(HubError);
  return error as HubError;
}

/** The code of the HubError a promise rejects with. */
export async function hubErrorCode(promise: Promise<unknown>): Promise<string> {
  return (await rejection(promise)).code;
}

/** What a promise rejects with, HubError or not: its code (a HubError's) and message. */
export async function failure(promise: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    return { code: error instanceof HubError ? error.code : undefined, message: (error as Error).message };
  }
  throw new Error('expected the call to fail');
}
