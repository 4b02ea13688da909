#!/usr/bin/env node
// The `modelhub` command: the CLI is TypeScript, run through tsx's loader so `npx modelhub` works
// without a build step (and never runs a stale build of a checkout being edited).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../hub-server/cli.ts');
await main(process.argv);
