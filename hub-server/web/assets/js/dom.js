/* global document, navigator, Node, setTimeout, window */
// Builds elements from data without innerHTML: everything shown comes from published metadata,
// which is other people's text, so it only ever becomes text nodes and attribute values.

/**
 * h('a', { href: '/x', class: 'link' }, 'text', child) → HTMLElement.
 * Attributes that are null, undefined or false are left out; `on<event>` values become listeners.
 */
export function h(tag, attributes, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') element.addEventListener(key.slice(2), value);
    else if (key === 'class') element.className = value;
    else if (key === 'value' && 'value' in element) element.value = value;
    else element.setAttribute(key, value === true ? '' : String(value));
  }
  append(element, children);
  return element;
}

export function append(element, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

export function clear(element) {
  element.replaceChildren();
  return element;
}

/** A section with a heading whose id names it (for landmarks and the page's table of contents). */
export function section(id, title, ...children) {
  return h('section', { id, 'aria-labelledby': `${id}-heading`, class: 'card-section' }, h('h2', { id: `${id}-heading` }, title), ...children);
}

export function formatBytes(bytes) {
  if (!Number.isFinite(bytes)) return '';
  const units = ['bytes', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return unit === 0 ? `${bytes} bytes` : `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

export function formatDate(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

/**
 * JSON for people: arrays of numbers and other scalars stay on one line, objects and nested arrays
 * are indented, so a 784-pixel image is one line, not 784.
 */
export function prettyJson(value, indent = '') {
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    if (value.every((item) => item === null || typeof item !== 'object')) return `[${value.map((item) => JSON.stringify(item)).join(', ')}]`;
    const inner = `${indent}  `;
    return `[\n${value.map((item) => inner + prettyJson(item, inner)).join(',\n')}\n${indent}]`;
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value);
    if (entries.length === 0) return '{}';
    const inner = `${indent}  `;
    return `{\n${entries.map(([key, item]) => `${inner}${JSON.stringify(key)}: ${prettyJson(item, inner)}`).join(',\n')}\n${indent}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** A copy button for the text of `source` (an element) or a function returning text. */
export function copyButton(label, source, announce, id) {
  const button = h('button', { type: 'button', class: 'copy-button secondary', id }, label);
  button.addEventListener('click', async () => {
    const text = typeof source === 'function' ? source() : source.textContent ?? '';
    const copied = await copyText(text);
    button.textContent = copied ? 'Copied' : 'Select and copy';
    if (announce) announce(copied ? `${label.replace(/^Copy /, '')} copied to the clipboard` : 'Could not copy; select the text and copy it');
    if (!copied && typeof source !== 'function') window.getSelection()?.selectAllChildren(source);
    setTimeout(() => (button.textContent = label), 2500);
  });
  return button;
}

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Older browsers and insecure origins have no async clipboard: fall back to a selection.
    const area = h('textarea', { class: 'visually-hidden', 'aria-hidden': 'true', tabindex: '-1' });
    area.value = text;
    document.body.append(area);
    area.select();
    let copied = false;
    try {
      copied = document.execCommand('copy');
    } catch {
      copied = false;
    }
    area.remove();
    return copied;
  }
}

/** A polite live region for short announcements ("copied", "running finished"). */
export function liveRegion() {
  const region = h('p', { class: 'visually-hidden', role: 'status', 'aria-live': 'polite' });
  return { element: region, say: (text) => { region.textContent = ''; setTimeout(() => (region.textContent = text), 30); } };
}

export function setTitle(title) {
  document.title = title ? `${title} · modelhub` : 'modelhub';
}
