/* global Blob, FileReader, performance, URL */
// The try-it form: a JSON editor for the declared inputs (pre-filled with the publisher's example),
// file pickers for file inputs, and the run's output, timings or error as the hub reports them.
import { ApiError, api, servablePath } from './api.js';
import { append, clear, h, prettyJson } from './dom.js';
import { describeArgument, fileSlots, skeleton } from './io-types.js';

const TEXT_TYPES = /^(text\/|application\/(json|xml|csv|x-ndjson))/;
const MAX_SHOWN_CHARS = 200_000;

/** A file becomes its text (text files) or a data: URL (anything else) in the JSON inputs. */
function readFile(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    if (TEXT_TYPES.test(file.type)) reader.readAsText(file);
    else reader.readAsDataURL(file);
  });
}

function argmax(row) {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

const isNumbers = (value) => Array.isArray(value) && value.length > 0 && value.every((item) => typeof item === 'number');

/** Where each output row peaks: what a person reading a classifier's probabilities looks for first. */
function outputSummary(output, names) {
  const items = [];
  const add = (name, value) => {
    if (isNumbers(value) && value.length > 1) {
      const best = argmax(value);
      items.push(h('li', { 'data-output': name, 'data-row': '0', 'data-argmax': String(best) }, h('code', null, name), `: largest value at index ${best} (${value[best].toPrecision(4)})`));
    } else if (Array.isArray(value) && value.length > 0 && value.every((row) => isNumbers(row) && row.length > 1)) {
      value.slice(0, 20).forEach((row, i) => {
        const best = argmax(row);
        items.push(h('li', { 'data-output': name, 'data-row': String(i), 'data-argmax': String(best) }, h('code', null, name), `, row ${i + 1}: largest value at index ${best} (${row[best].toPrecision(4)})`));
      });
    }
  };
  if (output && typeof output === 'object' && !Array.isArray(output)) for (const [name, value] of Object.entries(output)) add(name, value);
  else add(names?.[0] ?? 'output', output);
  return items.length ? h('ul', { class: 'output-summary', 'aria-label': 'Summary of the output' }, items) : null;
}

function timingList(reply, roundTripMs) {
  const ms = (value) => `${Number(value).toFixed(2)} ms`;
  const row = (term, detail) => [h('dt', null, term), h('dd', null, detail)];
  return h('dl', { class: 'timings' },
    row('Queue', ms(reply.timing.queue_ms)),
    row('Inference', ms(reply.timing.inference_ms)),
    row('Total in the hub', ms(reply.timing.total_ms)),
    row('Round trip from this browser', ms(roundTripMs)),
    row('From the cache', reply.cached ? 'yes' : 'no'),
    row('Ran', `${reply.servable} version ${reply.version}`));
}

export function errorPanel(error) {
  const code = error instanceof ApiError ? error.code : 'ERROR';
  return h('div', { class: 'error-panel', role: 'alert' },
    h('p', null, h('strong', { class: 'error-code' }, code), ': ', h('span', { class: 'error-message' }, error.message)),
    error.details !== undefined ? h('details', null, h('summary', null, 'Details'), h('pre', null, prettyJson(error.details))) : null);
}

export function tryItForm(document, ref) {
  const method = document.servable.methods.run;
  const outputNames = method.method_details?.output_names;
  const example = method.method_details?.example_inputs;
  const slots = fileSlots(method.input);
  const onlyFiles = slots.length === 1 && slots[0].key === null;
  const startValue = () => prettyJson(example !== undefined ? example : skeleton(method.input));

  const editor = onlyFiles
    ? null
    : h('textarea', { id: 'try-inputs', name: 'inputs', rows: '10', spellcheck: 'false', autocomplete: 'off', 'aria-describedby': 'try-inputs-hint', class: 'code-editor' });
  if (editor) editor.value = startValue();
  const pickers = slots.map((slot, i) =>
    h('div', { class: 'field' },
      h('label', { for: `try-file-${i}` }, slot.key === null ? 'Input file' : `File for “${slot.key}”`),
      h('input', { id: `try-file-${i}`, type: 'file', required: true, 'data-key': slot.key ?? '' }),
      slot.argument.description ? h('p', { class: 'hint' }, slot.argument.description) : null));
  const declaredParameters = method.parameters && Object.keys(method.parameters).length ? method.parameters : undefined;
  const parametersEditor = declaredParameters
    ? h('textarea', { id: 'try-parameters', rows: '3', spellcheck: 'false', class: 'code-editor', 'aria-describedby': 'try-parameters-hint' })
    : null;
  if (parametersEditor) parametersEditor.value = prettyJson(declaredParameters);

  const runButton = h('button', { type: 'submit', id: 'try-run' }, 'Run the model');
  const status = h('div', { class: 'run-status', role: 'status', 'aria-live': 'polite', id: 'try-status' });
  const result = h('div', { class: 'run-result', id: 'try-result' });

  const form = h('form', { class: 'try-form', id: 'try-form', novalidate: true },
    editor
      ? h('div', { class: 'field' },
          h('label', { for: 'try-inputs' }, 'Inputs (JSON)'),
          h('p', { id: 'try-inputs-hint', class: 'hint' },
            `Expected: ${describeArgument(method.input)}.`,
            example !== undefined ? ' Pre-filled with the example the publisher gave.' : ' Pre-filled with zeros of the declared shape.',
            slots.length ? ' File inputs are chosen below and added to this object.' : ''),
          editor)
      : null,
    pickers,
    parametersEditor
      ? h('div', { class: 'field' }, h('label', { for: 'try-parameters' }, 'Parameters (JSON)'), h('p', { id: 'try-parameters-hint', class: 'hint' }, 'Declared run parameters, with their defaults.'), parametersEditor)
      : null,
    h('div', { class: 'button-row' },
      runButton,
      editor ? h('button', { type: 'button', class: 'secondary', onclick: () => { editor.value = startValue(); editor.removeAttribute('aria-invalid'); } }, 'Reset inputs') : null),
    status);

  const parse = (textarea, label) => {
    try {
      const value = JSON.parse(textarea.value);
      textarea.removeAttribute('aria-invalid');
      return value;
    } catch (error) {
      textarea.setAttribute('aria-invalid', 'true');
      textarea.focus();
      throw new ApiError(0, 'INVALID_JSON', `${label} are not valid JSON: ${error.message}`);
    }
  };

  let running = false;
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (running) return;
    clear(result);
    let inputs;
    let parameters;
    try {
      inputs = editor ? parse(editor, 'The inputs') : undefined;
      parameters = parametersEditor ? parse(parametersEditor, 'The parameters') : undefined;
      for (const picker of form.querySelectorAll('input[type=file]')) {
        const file = picker.files?.[0];
        if (!file) throw new ApiError(0, 'MISSING_FILE', `Choose a file for ${picker.dataset.key || 'the input'}.`);
        const content = await readFile(file);
        if (picker.dataset.key) inputs = { ...(inputs ?? {}), [picker.dataset.key]: content };
        else inputs = content;
      }
    } catch (error) {
      result.append(errorPanel(error));
      return;
    }

    // aria-disabled, not disabled: a disabled button would drop the keyboard focus.
    running = true;
    runButton.setAttribute('aria-disabled', 'true');
    form.setAttribute('aria-busy', 'true');
    status.replaceChildren(h('span', { class: 'spinner', 'aria-hidden': 'true' }), ` Running ${ref.owner}/${ref.name}…`);
    const started = performance.now();
    try {
      const body = { inputs, ...(parameters ? { parameters } : {}) };
      const reply = await api(`${servablePath(ref.owner, ref.name, ref.version)}/run`, { method: 'POST', body });
      const roundTrip = performance.now() - started;
      status.textContent = `Finished in ${reply.timing.total_ms.toFixed(1)} ms.`;
      const text = prettyJson(reply.output);
      const download = URL.createObjectURL(new Blob([JSON.stringify(reply)], { type: 'application/json' }));
      append(result, [
        h('h3', { id: 'try-output-heading', tabindex: '-1' }, 'Output'),
        outputSummary(reply.output, outputNames),
        timingList(reply, roundTrip),
        h('pre', { class: 'output', id: 'try-output', tabindex: '0', 'aria-labelledby': 'try-output-heading' },
          text.length > MAX_SHOWN_CHARS ? `${text.slice(0, MAX_SHOWN_CHARS)}\n… (${text.length - MAX_SHOWN_CHARS} more characters in the download)` : text),
        h('p', null, h('a', { href: download, download: `${ref.name}-output.json` }, 'Download the whole reply (JSON)'))]);
    } catch (error) {
      status.textContent = 'The run failed.';
      result.append(errorPanel(error));
    } finally {
      running = false;
      runButton.removeAttribute('aria-disabled');
      form.removeAttribute('aria-busy');
    }
  });

  return h('div', null, form, result);
}
