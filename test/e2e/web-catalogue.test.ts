/**
 * The web catalogue in a real browser: Debian's Chromium driven by playwright-core against a hub
 * with the demo models. Every check compares what the page shows with what the hub API answers.
 * Screenshots of the main pages go to test-output/screenshots/.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';
import type { PublishedMetadata } from '../../schemas/metadata.ts';
import type { RunReply, SearchReply, TaskDocument } from '../../schemas/api.ts';
import { ROOT, startTestHub, type TestHub } from '../helpers/test-hub.ts';
import { getJson, onnxMetadata, postJson, publishAndWait } from '../helpers/hub-http.ts';

const CHROMIUM = process.env.MODELHUB_CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const SCREENSHOTS = path.join(ROOT, 'test-output', 'screenshots');

/** Start Chromium with a fresh profile, or say why it cannot start. */
async function launchBrowser(): Promise<{ context?: BrowserContext; userDataDir: string; problem?: string }> {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-chromium-'));
  if (!fs.existsSync(CHROMIUM)) return { userDataDir, problem: `no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set MODELHUB_CHROMIUM)` };
  try {
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      args: CHROMIUM_ARGS,
      headless: true,
      viewport: { width: 1280, height: 900 },
      timeout: 60_000,
    });
    return { context, userDataDir };
  } catch (error) {
    return { userDataDir, problem: `Chromium did not start: ${(error as Error).message}` };
  }
}

const argmax = (row: number[]) => row.reduce((best, value, i) => (value > row[best]! ? i : best), 0);

const launched = await launchBrowser();
// Outside CI a machine without Chromium skips these tests; in CI that is a failure, with the reason.
if (launched.problem && !process.env.CI) console.warn(`web catalogue tests skipped: ${launched.problem}`);

describe.skipIf(Boolean(launched.problem) && !process.env.CI)('web catalogue in Chromium', () => {
  let hub: TestHub;
  let context: BrowserContext;
  let page: Page;
  let mnist: PublishedMetadata;
  const pageErrors: string[] = [];

  const goto = async (pathAndQuery: string) => {
    await page.goto(`${hub.url}${pathAndQuery}`);
    await page.waitForSelector('main[aria-busy="false"]');
  };
  const shoot = (name: string) => page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
  const seriousViolations = async () => {
    const results = await new AxeBuilder({ page }).analyze();
    return results.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  };

  beforeAll(async () => {
    if (launched.problem) throw new Error(launched.problem);
    context = launched.context!;
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    hub = await startTestHub({ demo: true });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: hub.url });
    page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
    mnist = (await getJson(`${hub.url}/api/v1/servables/demo/mnist-mlp`)).body;
  });

  // A script error on any page fails the test that caused it.
  afterEach(() => expect(pageErrors.splice(0)).toEqual([]));

  afterAll(async () => {
    await launched.context?.close();
    fs.rmSync(launched.userDataDir, { recursive: true, force: true });
    await hub?.stop();
  });

  it('searches, filters by a facet with its count, sorts and keeps the state in the URL', async () => {
    const all: SearchReply = (await getJson(`${hub.url}/api/v1/search`)).body;
    await goto('/');
    await expect(page.title()).resolves.toBe('Search models · modelhub');
    expect(await page.locator('.hit').count()).toBe(all.total);
    expect(await page.locator('.hit h3').allTextContents()).toEqual(all.hits.map((hit) => hit.title));
    // Facet counts are the API's.
    const audio = page.locator('a.facet[data-facet="domain"][data-value="audio"]');
    expect(await audio.locator('.count').textContent()).toContain(String(all.facets.domain.audio));
    await shoot('search');

    await audio.click();
    await page.waitForSelector('main[aria-busy="false"]');
    expect(new URL(page.url()).searchParams.get('domain')).toBe('audio');
    const filtered: SearchReply = (await getJson(`${hub.url}/api/v1/search?domain=audio`)).body;
    expect(await page.locator('.hit h3').allTextContents()).toEqual(filtered.hits.map((hit) => hit.title));
    expect(await page.locator('a.facet[aria-current="true"]').getAttribute('data-value')).toBe('audio');
    await shoot('search-filtered');
    // Following the selected facet again removes the filter.
    await page.locator('a.facet[aria-current="true"]').click();
    await page.waitForSelector('main[aria-busy="false"]');
    expect(new URL(page.url()).searchParams.has('domain')).toBe(false);

    await page.getByLabel(/Search models by/).fill('digit');
    await page.getByLabel(/Search models by/).press('Enter');
    await page.waitForSelector('main[aria-busy="false"]');
    expect(new URL(page.url()).searchParams.get('q')).toBe('digit');
    const digit: SearchReply = (await getJson(`${hub.url}/api/v1/search?q=digit`)).body;
    expect(digit.total).toBeGreaterThan(0);
    expect(await page.locator('.hit h3').allTextContents()).toEqual(digit.hits.map((hit) => hit.title));

    // Newest first matches the registry's own order (newest publication first).
    await goto('/?sort=newest');
    const listed = (await getJson(`${hub.url}/api/v1/servables`)).body.items as { title: string }[];
    expect(await page.locator('.hit h3').allTextContents()).toEqual(listed.map((item) => item.title));
    expect(await page.getByRole('link', { name: 'Newest' }).getAttribute('aria-current')).toBe('true');
    // With a query, "newest" reorders the matches: here the reverse of their relevance. The hub
    // orders them (sort=newest), so the page asks it and nothing else.
    const matches: SearchReply = (await getJson(`${hub.url}/api/v1/search?q=input`)).body;
    const newestMatches = listed.map((item) => item.title).filter((title) => matches.hits.some((hit) => hit.title === title));
    expect(newestMatches.length).toBe(matches.total);
    const asked: string[] = [];
    const listen = (request: import('playwright-core').Request) => {
      // Every page also asks who is signed in (/whoami); what it shows comes from the search alone.
      if (request.url().includes('/api/v1/') && !request.url().includes('/api/v1/whoami')) asked.push(new URL(request.url()).pathname + new URL(request.url()).search);
    };
    page.on('request', listen);
    await goto('/?q=input&sort=newest');
    page.off('request', listen);
    expect(await page.locator('.hit h3').allTextContents()).toEqual(newestMatches);
    expect(asked).toEqual(['/api/v1/search?limit=20&offset=0&q=input&sort=newest']);
    const served: SearchReply = (await getJson(`${hub.url}/api/v1/search?q=input&sort=newest`)).body;
    expect(served.hits.map((hit) => hit.title)).toEqual(newestMatches);

    // Title A-Z (ignoring case, computed here) keeps the query.
    await page.getByRole('link', { name: 'Title A–Z' }).click();
    await page.waitForSelector('main[aria-busy="false"]');
    expect(Object.fromEntries(new URL(page.url()).searchParams)).toMatchObject({ q: 'input', sort: 'title' });
    const byTitle = [...newestMatches].sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase()));
    expect(await page.locator('.hit h3').allTextContents()).toEqual(byTitle);
  });

  it('opens a model card that shows the metadata, versions, interface, files and working example calls', async () => {
    await goto('/?q=digit');
    await page.getByRole('link', { name: mnist.datacite.titles[0]!.title }).click();
    await page.waitForSelector('main[aria-busy="false"]');
    expect(new URL(page.url()).pathname).toBe('/models/demo/mnist-mlp');
    await expect(page.locator('h1').textContent()).resolves.toBe(mnist.datacite.titles[0]!.title);
    expect(await page.locator('#model-identifier').textContent()).toBe(mnist.hub.identifier);
    expect(await page.locator('.related a').first().getAttribute('href')).toBe('https://doi.org/10.1109/5.726791');
    const inputs = page.locator('#interface table').first();
    expect(await inputs.locator('tbody th').allTextContents()).toEqual(['pixels']);
    expect(await inputs.locator('tbody').textContent()).toContain('[batch, 784]');
    expect(await page.locator('table.files').textContent()).toContain(mnist.hub.files[0]!.sha256);
    expect(await page.locator('table.versions tbody th a').allTextContents()).toEqual(['v1']);

    // The example requests the page offers are real: sent as they are, they run the model.
    const example = mnist.servable.methods.run.method_details!.example_inputs as number[][];
    const expected: RunReply = (await postJson(`${hub.url}/api/v1/servables/demo/mnist-mlp/run`, { inputs: example })).body;
    // Downloaded as a person would, by following the link.
    const offered = async (fileName: string) => {
      const [download] = await Promise.all([page.waitForEvent('download'), page.locator(`a[download="${fileName}"]`).first().click()]);
      return JSON.parse(fs.readFileSync((await download.path())!, 'utf8'));
    };
    expect(await page.locator('#use-curl-code').textContent()).toContain(`${hub.url}/api/v1/servables/demo/mnist-mlp/run`);
    const viaCurlFile = await postJson(`${hub.url}/api/v1/servables/demo/mnist-mlp/run`, await offered('request.json'));
    expect(viaCurlFile.body.output).toEqual(expected.output);
    expect(await page.locator('#use-v2-code').textContent()).toContain(`${hub.url}/v2/models/demo.mnist-mlp/infer`);
    const viaV2 = await postJson(`${hub.url}/v2/models/demo.mnist-mlp/infer`, await offered('v2-request.json'));
    expect(viaV2.status).toBe(200);
    expect(argmax(viaV2.body.outputs[0].data)).toBe(argmax((expected.output as number[][])[0]!));
    expect(await page.locator('#use-sdk-code').textContent()).toContain("client.run('demo/mnist-mlp', inputs)");
  });

  it('copies the citation shown, in the format chosen', async () => {
    await goto('/models/demo/mnist-mlp');
    const text = page.locator('#citation-text');
    await expect.poll(() => text.textContent(), { timeout: 20_000 }).not.toBe('Loading…');
    const served = await fetch(`${hub.url}/api/v1/servables/demo/mnist-mlp/versions/1/citation?format=bibtex`);
    if (served.ok) {
      // The hub serves citations: the page shows exactly what it serves.
      expect((await text.textContent())!.trim()).toBe((await served.text()).trim());
    } else {
      // No citation route yet: the page says so and builds one from the metadata.
      expect(await page.locator('#citation-notice').textContent()).toMatch(/does not serve citations/);
      expect(await text.textContent()).toContain('@misc{demo_mnist_mlp_v1');
    }
    const copy = page.locator('#copy-citation');
    expect(await copy.textContent()).toBe('Copy citation');
    await copy.click();
    await expect.poll(() => copy.textContent()).toBe('Copied');
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(await text.textContent());

    // Every other format the page offers loads, and copies as shown.
    const formats = await page.locator('#cite-format option').evaluateAll((options) => options.map((o) => (o as HTMLOptionElement).value));
    expect(formats.length).toBeGreaterThan(1);
    await page.selectOption('#cite-format', formats[1]!);
    await expect.poll(() => text.textContent(), { timeout: 20_000 }).not.toBe('Loading…');
    expect(await text.textContent()).not.toMatch(/^MODELHUB_/);
    await copy.click();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(await text.textContent());
  });

  it('runs demo/mnist-mlp from the try-it form: the output and timings match a run through the API', async () => {
    await goto('/models/demo/mnist-mlp');
    const example = JSON.parse(await page.locator('#try-inputs').inputValue()) as number[][];
    expect(example).toEqual(mnist.servable.methods.run.method_details!.example_inputs);
    const expected: RunReply = (await postJson(`${hub.url}/api/v1/servables/demo/mnist-mlp/run`, { inputs: example })).body;
    const expectedDigit = argmax((expected.output as number[][])[0]!);

    await page.getByRole('button', { name: 'Run the model' }).click();
    await page.waitForSelector('#try-output');
    expect(await page.locator('.output-summary li').first().getAttribute('data-argmax')).toBe(String(expectedDigit));
    const shown = JSON.parse((await page.locator('#try-output').textContent())!) as number[][];
    expect(shown[0]!.length).toBe(10);
    shown[0]!.forEach((p, i) => expect(p).toBeCloseTo((expected.output as number[][])[0]![i]!, 6));
    expect(await page.locator('.timings').textContent()).toMatch(/Inference\s*[\d.]+ ms/);
    expect(await page.locator('#try-status').textContent()).toMatch(/Finished/);
    await shoot('model-mnist');

    // Inputs of the wrong shape: the hub's code and message, naming the input.
    await page.locator('#try-inputs').fill('[[1, 2, 3]]');
    await page.getByRole('button', { name: 'Run the model' }).click();
    const error = page.locator('#try-result .error-panel');
    await error.waitFor();
    expect(await error.locator('.error-code').textContent()).toBe('MODELHUB_INVALID_INPUTS');
    expect(await error.locator('.error-message').textContent()).toContain('pixels');

    // Not JSON at all: caught in the page, the editor marked invalid.
    await page.locator('#try-inputs').fill('[[1, 2,');
    await page.getByRole('button', { name: 'Run the model' }).click();
    expect(await page.locator('#try-result .error-code').textContent()).toBe('INVALID_JSON');
    expect(await page.locator('#try-inputs').getAttribute('aria-invalid')).toBe('true');
  });

  it('runs the multi-input demo/silero-vad from its example', async () => {
    const silero: PublishedMetadata = (await getJson(`${hub.url}/api/v1/servables/demo/silero-vad`)).body;
    const example = silero.servable.methods.run.method_details!.example_inputs;
    const expected = (await postJson(`${hub.url}/api/v1/servables/demo/silero-vad/run`, { inputs: example })).body as { output: { output: number[][] } };
    await goto('/models/demo/silero-vad');
    expect(await page.locator('#interface table').first().locator('tbody th').allTextContents()).toEqual(['input', 'state', 'sr']);
    await page.getByRole('button', { name: 'Run the model' }).click();
    await page.waitForSelector('#try-output');
    const shown = JSON.parse((await page.locator('#try-output').textContent())!) as { output: number[][] };
    expect(shown.output[0]![0]).toBeCloseTo(expected.output.output[0]![0]!, 6);
    expect(await page.locator('main').innerText()).not.toMatch(/(^|\n)(null|undefined)(\n|$)/);
    await shoot('model-silero');
  });

  it('shows a failed publish: the failing step, the error and the log', async () => {
    const { task } = await publishAndWait(hub.url, onnxMetadata('alice', 'broken'), [{ name: 'model.onnx', bytes: new TextEncoder().encode('this is not a model '.repeat(50)) }]);
    expect(task.status).toBe('FAILED');
    await goto(`/tasks/${task.task_id}`);
    const error = page.locator('#task-error');
    expect(await error.textContent()).toContain(task.error!.code);
    expect(await error.textContent()).toContain(`Failed at the ${task.error!.step} step`);
    expect(await error.locator('.error-message').textContent()).toBe(task.error!.message);
    const failedStep = page.locator(`li.step[data-step="${task.error!.step}"]`);
    expect(await failedStep.getAttribute('data-status')).toBe('FAILED');
    const log = (await page.locator('#task-log').textContent())!;
    for (const line of (task as TaskDocument).log ?? []) expect(log).toContain(line);
    expect(await page.locator('main').innerText()).not.toMatch(/(^|\n)(null|undefined)(\n|$)/);
    await shoot('task-failed');
  });

  it('sends a pasted token as a bearer token on every API call, and forgets it', async () => {
    await goto('/');
    await page.locator('#token-box summary').click();
    await page.getByLabel('API token').fill('mh_test_token');
    const sent: (string | undefined)[] = [];
    const listen = (request: import('playwright-core').Request) => {
      if (request.url().includes('/api/v1/')) sent.push(request.headers().authorization);
    };
    page.on('request', listen);
    await page.getByRole('button', { name: 'Use token' }).click();
    await page.waitForURL(`${hub.url}/`);
    await page.waitForSelector('main[aria-busy="false"]');
    await goto('/models/demo/mnist-mlp');
    page.off('request', listen);
    expect(sent.length).toBeGreaterThan(0);
    expect(new Set(sent)).toEqual(new Set(['Bearer mh_test_token']));
    expect(await page.locator('#token-state').textContent()).toBe('in use');
    await page.locator('#token-box summary').click();
    await page.getByRole('button', { name: 'Forget token' }).click();
    await page.waitForSelector('main[aria-busy="false"]');
    expect(await page.locator('#token-state').textContent()).toBe('none');
    expect(await page.evaluate(() => localStorage.getItem('modelhub.token'))).toBeNull();
  });

  it('is keyboard operable and has no serious or critical accessibility violations (axe-core)', async () => {
    await goto('/');
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
    await page.keyboard.press('Enter');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('main');

    const failedTask = (await publishAndWait(hub.url, onnxMetadata('alice', 'broken-again'), [{ name: 'model.onnx', bytes: new Uint8Array(64) }])).task;
    const problems: Record<string, string[]> = {};
    for (const target of ['/', '/?domain=audio', '/models/demo/mnist-mlp', '/models/demo/silero-vad', `/tasks/${failedTask.task_id}`, '/models/demo/no-such-model']) {
      await goto(target);
      if (target === '/models/demo/mnist-mlp') {
        // With a run's output and the citation in place.
        await page.getByRole('button', { name: 'Run the model' }).click();
        await page.waitForSelector('#try-output');
        await expect.poll(() => page.locator('#citation-text').textContent(), { timeout: 20_000 }).not.toBe('Loading…');
      }
      const found = await seriousViolations();
      if (found.length) problems[target] = found;
    }
    expect(problems).toEqual({});
  });
});
