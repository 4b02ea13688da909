/** Builds an endpoint's executor and starts its agent: what `modelhub endpoint start` runs. */
import { EndpointAgent } from './agent.ts';
import { LocalExecutor } from './local-executor.ts';
import { SlurmExecutor, type SlurmSettings } from './slurm-executor.ts';

export interface StartAgentOptions {
  hubUrl: string;
  endpoint: string;
  token: string;
  stateDir: string;
  executor: 'local' | 'slurm';
  slurm?: SlurmSettings;
  log?: (line: string) => void;
}

export async function startAgent(options: StartAgentOptions): Promise<EndpointAgent> {
  const agent = new EndpointAgent({
    hubUrl: options.hubUrl,
    endpoint: options.endpoint,
    token: options.token,
    stateDir: options.stateDir,
    executor: (cache) =>
      options.executor === 'slurm'
        ? new SlurmExecutor({ stateDir: options.stateDir, settings: options.slurm ?? {}, ...(options.log ? { log: options.log } : {}) })
        : new LocalExecutor({ stateDir: options.stateDir, blobs: cache.blobs }),
    ...(options.log ? { log: options.log } : {}),
  });
  agent.start();
  return agent;
}
