/** What each engine says when it cannot do what is asked: no Docker daemon, a Dockerfile on the process engine. */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildServableImage } from '../../servables/image-builder.ts';
import { DockerContainerEngine } from '../../hub-server/adapters/docker-container-engine.ts';
import { ProcessContainerEngine } from '../../hub-server/adapters/process-container-engine.ts';
import { anyArgument, CONTAINER_FIXTURES, localFiles, publishedDocument } from '../fixtures/containers/documents.ts';

describe('container engines refuse clearly', () => {
  it('reports an unreachable Docker daemon as BACKEND_UNAVAILABLE naming Docker', async () => {
    const engine = new DockerContainerEngine({ dockerHost: 'unix:///nonexistent/modelhub-docker.sock' });
    const health = await engine.health();
    expect(health).toMatchObject({ ok: false, backend: 'docker' });
    expect(health.detail).toMatch(/Docker engine cannot be reached \(ENOENT\)/);
    await expect(engine.findImage('modelhub/base:bookworm')).rejects.toMatchObject({ code: 'MODELHUB_BACKEND_UNAVAILABLE', status: 503 });
  });

  it('the process engine cannot build a generic container', async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'modelhub-engines-'));
    try {
      const engine = new ProcessContainerEngine({ root });
      const files = await localFiles(path.join(CONTAINER_FIXTURES, 'echo-sum'));
      const document = publishedDocument('tests', 'echo', 1, { type: 'container', methods: { run: { input: anyArgument, output: anyArgument } } }, files);
      await expect(buildServableImage(engine, { document, files, instance: 'unit' })).rejects.toMatchObject({
        code: 'MODELHUB_RUNTIME_UNAVAILABLE',
        message: expect.stringContaining('MODELHUB_CONTAINERS=docker'),
      });
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
