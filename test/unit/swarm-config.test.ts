/** MODELHUB_CONTAINERS=swarm and its MODELHUB_SWARM_* settings, read once by loadConfig. */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../hub-server/config.ts';
import { SwarmContainerEngine } from '../../hub-server/adapters/swarm-container-engine.ts';
import { createContainerEngine } from '../../hub-server/composition-root.ts';

describe('Docker Swarm configuration', () => {
  it('defaults to host-mode ports, no constraints and no registry', () => {
    const config = loadConfig({ MODELHUB_CONTAINERS: 'swarm' });
    expect(config.containers).toBe('swarm');
    expect(config.swarm).toEqual({ constraints: [], publish: 'host', network: 'modelhub-swarm-servables' });
  });

  it('reads constraints, the publish mode, the registry and the node address', () => {
    const config = loadConfig({
      MODELHUB_CONTAINERS: 'swarm',
      MODELHUB_SWARM_CONSTRAINTS: 'node.role==worker, node.labels.modelhub != false',
      MODELHUB_SWARM_PUBLISH: 'internal',
      MODELHUB_SWARM_NETWORK: 'servables',
      MODELHUB_SWARM_REGISTRY: 'registry.example.org:5000',
      MODELHUB_SWARM_NODE_ADDRESS: '10.0.0.5',
    });
    expect(config.swarm).toEqual({
      constraints: ['node.role==worker', 'node.labels.modelhub != false'],
      publish: 'internal',
      network: 'servables',
      registry: 'registry.example.org:5000',
      nodeAddress: '10.0.0.5',
    });
  });

  it.each([
    ['MODELHUB_SWARM_CONSTRAINTS', 'node.role=worker'],
    ['MODELHUB_SWARM_CONSTRAINTS', 'node.role==worker,==x'],
    ['MODELHUB_SWARM_PUBLISH', 'ingress'],
    ['MODELHUB_SWARM_REGISTRY', 'http://registry:5000'],
  ])('refuses %s=%s with a message naming it', (variable, value) => {
    expect(() => loadConfig({ MODELHUB_CONTAINERS: 'swarm', [variable]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ MODELHUB_CONTAINERS: 'swarm', [variable]: value })).toThrow(variable);
  });

  it('the composition root picks the Swarm adapter, which reports an unreachable manager as down', async () => {
    const engine = await createContainerEngine(loadConfig({ MODELHUB_CONTAINERS: 'swarm' }));
    expect(engine).toBeInstanceOf(SwarmContainerEngine);
    expect(engine.kind).toBe('swarm');
    const unreachable = new SwarmContainerEngine({ dockerHost: 'unix:///nonexistent/modelhub-docker.sock' });
    const health = await unreachable.health();
    expect(health).toMatchObject({ ok: false, backend: 'swarm' });
    expect(health.detail).toMatch(/Docker Swarm manager cannot be reached \(ENOENT\)/);
  });
});
