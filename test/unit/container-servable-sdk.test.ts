/** ContainerServable.create: the SDK's description of a generic container servable folder. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ContainerServable } from '../../sdk/models/container-servable.ts';
import { CONTAINER_FIXTURES } from '../fixtures/containers/documents.ts';

describe('ContainerServable.create', () => {
  it('describes the echo-sum folder with its files and base image', async () => {
    const model = (await ContainerServable.create(path.join(CONTAINER_FIXTURES, 'echo-sum')))
      .setTitle('Echo and sum')
      .setName('echo-sum')
      .setOwner('tests')
      .setAuthors(['Doe, Jane']);
    expect(model.baseImage).toBe('modelhub/python:bookworm');
    expect(model.warnings).toEqual([]);
    expect(model.files().map((file) => file.path).sort()).toEqual(['Dockerfile', 'server.py']);
    const metadata = model.toMetadata();
    expect(metadata.servable).toMatchObject({ type: 'container', model_file: 'Dockerfile', methods: { run: { input: { type: 'any' }, output: { type: 'any' } } } });
  });

  it('refuses a folder without a Dockerfile or without FROM, and warns about foreign base images', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'modelhub-sdk-container-'));
    try {
      await expect(ContainerServable.create(dir)).rejects.toThrow(/has no Dockerfile/);
      await writeFile(path.join(dir, 'Dockerfile'), 'RUN true\n');
      await expect(ContainerServable.create(dir)).rejects.toThrow(expect.objectContaining({ code: 'MODELHUB_INVALID_MODEL', message: expect.stringContaining('no FROM line') }));
      await writeFile(path.join(dir, 'Dockerfile'), 'FROM python:3.12-slim\nUSER root\nCMD ["python3", "-m", "http.server"]\n');
      expect((await ContainerServable.create(dir)).warnings).toEqual([
        expect.stringContaining('not one of the hub\'s base images'),
        expect.stringContaining('switches to root'),
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
