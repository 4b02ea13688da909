import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOG, HubError } from '../../schemas/errors.ts';
import { ROOT } from '../helpers/test-hub.ts';

describe('the error catalog', () => {
  const table = fs.readFileSync(path.join(ROOT, 'docs/errors.md'), 'utf8');

  it('documents every code in docs/errors.md with its status', () => {
    for (const [name, entry] of Object.entries(ERROR_CATALOG)) {
      const row = table.split('\n').find((line) => line.startsWith(`| \`MODELHUB_${name}\` |`));
      expect(row, `docs/errors.md has no row for MODELHUB_${name}`).toBeDefined();
      expect(row).toContain(`| ${entry.status} |`);
    }
  });

  it('renders the API error body with a stable code', () => {
    const error = new HubError('INVALID_INPUTS', 'input "x" expected float32', { details: { input: 'x' } });
    expect(error.status).toBe(422);
    expect(error.toJSON()).toEqual({
      error: { code: 'MODELHUB_INVALID_INPUTS', message: 'The inputs do not fit the servable: input "x" expected float32', details: { input: 'x' } },
    });
  });
});
