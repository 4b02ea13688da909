/**
 * What MODELHUB_CONTAINERS=swarm adds to the Docker tests (test/e2e/docker-containers.test.ts runs
 * those against the swarm too), on the one-node swarm of scripts/docker/start-swarm.sh: images
 * pushed once to the registry service on the swarm (Debian's docker-registry, started by
 * scripts/docker/start-swarm-registry.sh) and pulled from it by the node; placement constraints
 * that cannot be met, and ones that can; tasks on an internal network (MODELHUB_SWARM_PUBLISH=internal);
 * Swarm's own health check taking out a task whose servable stops answering.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SwarmContainerEngine } from '../../hub-server/adapters/swarm-container-engine.ts';
import { LABELS, type ServableImage } from '../../schemas/ports/container-engine.ts';
import { ensureBaseImages } from '../../servables/base-images.ts';
import { ContainerPool } from '../../servables/container-pool.ts';
import { CONTAINER_FIXTURES } from '../fixtures/containers/documents.ts';
import { swarmEngineForTests } from '../fixtures/containers/swarm-engine.ts';

const INSTANCE = `e2e-swarm-${process.pid}`;
const REGISTRY_SCRIPT = path.resolve(CONTAINER_FIXTURES, '../../../scripts/docker/start-swarm-registry.sh');
const labels = (name: string) => ({ [LABELS.owner]: 'tests', [LABELS.name]: name, [LABELS.version]: '1', [LABELS.instance]: INSTANCE, [LABELS.role]: 'servable' });

let engine: SwarmContainerEngine;
let work: string;
const built: string[] = [];

async function buildEchoSum(target: SwarmContainerEngine, name: string): Promise<ServableImage> {
  const tag = `modelhub/${INSTANCE}/tests/${name}:1`;
  built.push(tag);
  return target.build({ contextDir: path.join(CONTAINER_FIXTURES, 'echo-sum'), tag, labels: labels(name) });
}

const ourServices = () => engine.docker.listServices({ filters: { label: [`${LABELS.instance}=${INSTANCE}`] } });

beforeAll(async () => {
  engine = await swarmEngineForTests();
  await ensureBaseImages(engine);
  work = await mkdtemp(path.join(os.tmpdir(), 'modelhub-swarm-e2e-'));
}, 600_000);

afterAll(async () => {
  if (engine) {
    await engine.gc({ instance: INSTANCE, keepContainers: new Set(), keepImage: () => false });
    for (const tag of built) await engine.removeImage(tag).catch(() => {});
  }
  if (work) await rm(work, { recursive: true, force: true });
});

describe('container servables on Docker Swarm', () => {
  it('pushes a built image to the registry service on the swarm and runs the copy the node pulls from it', async () => {
    const { stdout } = await promisify(execFile)(REGISTRY_SCRIPT, [], { timeout: 120_000 });
    const registry = /MODELHUB_SWARM_REGISTRY=(\S+)/.exec(stdout)?.[1];
    expect(registry, stdout).toBeTruthy();
    const withRegistry = await swarmEngineForTests({ registry });
    const log: string[] = [];
    const image = await withRegistry.build({ contextDir: path.join(CONTAINER_FIXTURES, 'echo-sum'), tag: `modelhub/${INSTANCE}/tests/pushed:1`, labels: labels('pushed'), onLog: (line) => log.push(line) });
    built.push(image.ref);
    const remote = `${registry}/${image.ref}`;
    expect(log).toContain(`pushed ${remote}`);
    // The registry has it: its own API lists the tag.
    const tags = (await (await fetch(`http://${registry}/v2/modelhub/${INSTANCE}/tests/pushed/tags/list`)).json()) as { tags: string[] };
    expect(tags.tags).toEqual(['1']);
    // Drop the node's copy under the registry's name: the service must pull it back from the registry.
    await withRegistry.docker.getImage(remote).remove();
    const pool = new ContainerPool(withRegistry, { instance: INSTANCE, defaults: { readyTimeoutMs: 60_000 } });
    try {
      await pool.register('tests/pushed@1', { image, labels: labels('pushed') });
      const answer = await pool.infer('tests/pushed@1', { inputs: [{ name: 'input', shape: [3], datatype: 'FP64', data: [1, 2, 3.5] }] });
      expect(answer.outputs.find((output) => output.name === 'sum')?.data).toEqual([6.5]);
      const [service] = await ourServices();
      expect(service?.Spec?.TaskTemplate && 'ContainerSpec' in service.Spec.TaskTemplate ? service.Spec.TaskTemplate.ContainerSpec?.Image : undefined).toMatch(new RegExp(`^${remote.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}(@sha256:[0-9a-f]{64})?$`));
      expect((await withRegistry.findImage(remote))?.id).toBe(image.id);
    } finally {
      await pool.close();
    }
    expect(await ourServices()).toEqual([]);
  }, 600_000);

  it('fails a start whose placement constraints no node meets with Swarm\'s reason, and leaves no service', async () => {
    const image = await buildEchoSum(engine, 'placed');
    const nowhere = await swarmEngineForTests({ constraints: ['node.labels.modelhub-gpu==true'] });
    await expect(nowhere.start({ image, labels: labels('placed'), readyTimeoutMs: 3000 })).rejects.toMatchObject({
      code: 'MODELHUB_NOT_READY',
      message: expect.stringMatching(/did not become ready within 3 s \(task pending: no suitable node/),
    });
    expect(await ourServices()).toEqual([]);

    const managers = await swarmEngineForTests({ constraints: ['node.role==manager'] });
    const container = await managers.start({ image, labels: labels('placed'), readyTimeoutMs: 60_000 });
    try {
      const [service] = await ourServices();
      const template = service?.Spec?.TaskTemplate as { Placement?: { Constraints?: string[] }; ContainerSpec?: { ReadOnly?: boolean; User?: string } };
      expect(template.Placement?.Constraints).toEqual(['node.role==manager']);
      expect(template.ContainerSpec).toMatchObject({ ReadOnly: true, User: '10001:10001' });
      expect(service?.Spec?.Mode).toEqual({ Replicated: { Replicas: 1 } });
      // Reached at the node's advertised address and the port published on it (host mode), not at
      // an address inside the node: the URL any hub replica that reaches the node can use.
      const node = (await engine.docker.getNode((await engine.docker.listTasks({ filters: { service: [service!.ID] } }))[0].NodeID).inspect()) as { Status: { Addr: string } };
      const published = service?.Spec?.EndpointSpec?.Ports?.[0];
      expect(published).toMatchObject({ TargetPort: 8080, PublishMode: 'host' });
      expect(new URL(container.url).hostname).toBe(node.Status.Addr);
      expect(await container.healthy()).toBe(true);
    } finally {
      await container.stop();
    }
    expect(await ourServices()).toEqual([]);
  }, 300_000);

  it('MODELHUB_SWARM_PUBLISH=internal: tasks on an internal network, reached at their address there, with no route out', async () => {
    const image = await buildEchoSum(engine, 'inside');
    const internal = await swarmEngineForTests({ publish: 'internal', networkName: `modelhub-e2e-${process.pid}` });
    const container = await internal.start({ image, labels: labels('inside'), readyTimeoutMs: 60_000 });
    try {
      expect(await container.healthy()).toBe(true);
      expect(new URL(container.url).port).toBe('8080');
      const outbound = await promisify(execFile)('docker', ['exec', container.id, 'python3', '-c', 'import socket; socket.create_connection(("deb.debian.org", 80), timeout=3)']).then(
        () => 'connected',
        (error: { stderr?: string }) => error.stderr ?? '',
      );
      // Refused by the network (no name server, no route), not by docker exec.
      expect(outbound).toMatch(/name resolution|unreachable|timed out/i);
    } finally {
      await container.stop();
      await internal.docker.getNetwork(`modelhub-e2e-${process.pid}`).remove().catch(() => {});
    }
    expect(await ourServices()).toEqual([]);
  }, 300_000);

  it('Swarm\'s health check takes out a task whose servable stops answering /v2/health/ready', async () => {
    // Ready for its first 8 seconds, then 503: Swarm's check (every 2 s, 3 failures) must end it.
    const context = path.join(work, 'tires');
    await promisify(execFile)('mkdir', ['-p', context]);
    await writeFile(path.join(context, 'server.py'), `
import http.server, time
started = time.time()
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ok = time.time() - started < 8
        self.send_response(200 if ok else 503)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"ready": %s}' % (b"true" if ok else b"false"))
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", 8080), Handler).serve_forever()
`);
    await writeFile(path.join(context, 'Dockerfile'), 'FROM modelhub/python:bookworm\nCOPY server.py /app/server.py\nCMD ["python3", "/app/server.py"]\n');
    const tag = `modelhub/${INSTANCE}/tests/tires:1`;
    built.push(tag);
    const image = await engine.build({ contextDir: context, tag, labels: labels('tires') });
    const container = await engine.start({ image, labels: labels('tires'), readyTimeoutMs: 60_000 });
    try {
      const exit = await Promise.race([container.exited, new Promise<undefined>((resolve) => setTimeout(resolve, 90_000))]);
      expect(exit?.reason).toMatch(/failed its Swarm health check/);
    } finally {
      await container.stop();
    }
    expect(await ourServices()).toEqual([]);
  }, 300_000);
});
