import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../hub-server/config.ts';

describe('configuration', () => {
  it('has the defaults of API.md', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ port: 8700, host: '127.0.0.1', blobs: 'fs', search: 'sqlite', containers: 'process', auth: 'open', anonymousRead: true, python: '/usr/bin/python3' });
    expect(config.maxUploadBytes).toBe(2048 * 1024 * 1024);
    expect(config.dataDir).toMatch(/\.modelhub$/);
  });

  it.each([
    ['MODELHUB_PORT', 'eighty'],
    ['MODELHUB_PORT', '70000'],
    ['MODELHUB_BLOBS', 'ftp'],
    ['MODELHUB_SEARCH', 'solr'],
    ['MODELHUB_CONTAINERS', 'podman'],
    ['MODELHUB_AUTH', 'maybe'],
    ['MODELHUB_ANONYMOUS_READ', 'perhaps'],
    ['MODELHUB_MAX_UPLOAD_MB', '-1'],
    ['MODELHUB_IDENTIFIER_RETRY_SECONDS', 'soon'],
    // Unchecked, NaN made the hub ping every compute endpoint every millisecond.
    ['MODELHUB_ENDPOINT_HEARTBEAT_MS', 'often'],
    ['MODELHUB_ENDPOINT_HEARTBEAT_MS', '0'],
  ])('stops on a bad %s with a message naming it', (variable, value) => {
    expect(() => loadConfig({ [variable]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [variable]: value })).toThrow(new RegExp(variable));
  });

  it('requires the settings a chosen backend needs', () => {
    expect(() => loadConfig({ MODELHUB_BLOBS: 's3' })).toThrow(/MODELHUB_S3_ENDPOINT/);
    expect(() => loadConfig({ MODELHUB_SEARCH: 'elasticsearch' })).toThrow(/MODELHUB_ES_URL/);
    expect(() => loadConfig({ MODELHUB_IDENTIFIERS: 'datacite' })).toThrow(/MODELHUB_DATACITE_PREFIX/);
  });
});
