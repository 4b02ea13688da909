/* global Blob, location, URL */
// Ready-to-paste calls for one model: the TypeScript SDK, the CLI, curl on the hub API and curl on
// the Open Inference Protocol, filled in with this hub's address and the model's example inputs.
import { h, copyButton } from './dom.js';
import { skeleton, v2Request } from './io-types.js';

// Inputs longer than this go into a file the page offers for download, not onto the command line.
const INLINE_LIMIT = 300;

const shellQuote = (text) => `'${text.replace(/'/g, `'\\''`)}'`;

function download(fileName, value) {
  const url = URL.createObjectURL(new Blob([JSON.stringify(value)], { type: 'application/json' }));
  return h('a', { href: url, download: fileName, class: 'download' }, `Download ${fileName}`);
}

function snippet(id, title, code, files, announce, note) {
  const pre = h('pre', { class: 'snippet', id: `${id}-code`, tabindex: '0', 'aria-labelledby': `${id}-heading` }, h('code', null, code));
  return h('div', { class: 'snippet-block' },
    h('h3', { id: `${id}-heading` }, title),
    note ? h('p', { class: 'hint' }, note) : null,
    pre,
    h('div', { class: 'button-row' }, copyButton(`Copy the ${title} example`, pre, announce), files));
}

/**
 * @param document the servable's metadata document
 * @param ref {owner, name, version?}: version only when the visitor picked one
 */
export function usageExamples(document, ref, announce) {
  const hub = location.origin;
  const method = document.servable.methods.run;
  const example = method.method_details?.example_inputs;
  const inputs = example !== undefined ? example : skeleton(method.input);
  const inputsJson = JSON.stringify(inputs);
  const inline = inputsJson.length <= INLINE_LIMIT;
  const name = `${ref.owner}/${ref.name}`;
  const pinned = ref.version ? `${name}@${ref.version}` : name;
  const isPrivate = document.hub.visibility === 'private';
  const tokenHeader = isPrivate ? ` \\\n  -H "Authorization: Bearer $MODELHUB_TOKEN"` : '';
  const runPath = `/api/v1/servables/${ref.owner}/${ref.name}${ref.version ? `/versions/${ref.version}` : ''}/run`;

  const sdk = [
    `import { HubClient } from 'modelhub';`,
    inline ? null : `import { readFile } from 'node:fs/promises';`,
    '',
    `// The token comes from MODELHUB_TOKEN or \`modelhub login\`${isPrivate ? ' (this model is private)' : ' (not needed for public models)'}.`,
    `const client = new HubClient({ url: '${hub}' });`,
    inline ? `const inputs = ${inputsJson};` : `const inputs = JSON.parse(await readFile('inputs.json', 'utf8'));`,
    `const reply = await client.run('${name}', inputs${ref.version ? `, { version: ${ref.version} }` : ''});`,
    `console.log(reply.output, reply.timing);`,
  ].filter((line) => line !== null).join('\n');

  const cli = [
    `modelhub --url ${hub} describe ${pinned}`,
    inline ? `modelhub --url ${hub} run ${pinned} ${shellQuote(inputsJson)}` : `modelhub --url ${hub} run ${pinned} --input-file inputs.json`,
    `modelhub --url ${hub} cite ${pinned} --format bibtex`,
  ].join('\n');

  const request = { inputs };
  const curl = `curl -s -X POST ${hub}${runPath} \\\n  -H 'content-type: application/json'${tokenHeader} \\\n  -d ${inline ? shellQuote(JSON.stringify(request)) : '@request.json'}`;

  const v2 = v2Request(method.input, method.method_details?.input_names, inputs);
  const v2Json = v2 ? JSON.stringify(v2) : '';
  const v2Inline = v2Json.length <= INLINE_LIMIT;
  const v2Path = `/v2/models/${ref.owner}.${ref.name}${ref.version ? `/versions/${ref.version}` : ''}/infer`;
  const v2Curl = v2
    ? `curl -s -X POST ${hub}${v2Path} \\\n  -H 'content-type: application/json'${tokenHeader} \\\n  -d ${v2Inline ? shellQuote(v2Json) : '@v2-request.json'}`
    : '';

  const exampleNote = example !== undefined ? 'Filled in with the example inputs the publisher gave.' : 'Filled in with zeros of the declared shape; put your own data in.';
  return h('div', { class: 'snippets' },
    h('p', { class: 'hint' }, exampleNote),
    snippet('use-sdk', 'TypeScript SDK', sdk, inline ? null : download('inputs.json', inputs), announce),
    snippet('use-cli', 'Command line', cli, inline ? null : download('inputs.json', inputs), announce),
    snippet('use-curl', 'curl (hub API)', curl, inline ? null : download('request.json', request), announce),
    v2
      ? snippet('use-v2', 'Open Inference Protocol (KServe v2)', v2Curl, v2Inline ? null : download('v2-request.json', v2), announce, `Model name ${ref.owner}.${ref.name}: tensors flattened in row-major order with their shapes.`)
      : h('p', { class: 'hint' }, 'This model takes JSON rather than tensors, so it is run through the hub API rather than the Open Inference Protocol.'));
}
