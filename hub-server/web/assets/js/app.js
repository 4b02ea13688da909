/* global document, location, URLSearchParams */
// Entry point of every page: the token box, then the page the path names. Pages are whole
// documents (links and forms navigate), so the URL always holds the state and the back button works.
import { getToken, setToken } from './api.js';
import { clear, h, setTitle } from './dom.js';

const main = document.getElementById('main');

function setUpTokenBox() {
  const form = document.getElementById('token-form');
  const input = document.getElementById('token-input');
  const state = document.getElementById('token-state');
  const forget = document.getElementById('token-forget');
  const show = () => (state.textContent = getToken() ? 'in use' : 'none');
  show();
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    setToken(input.value.trim());
    location.reload();
  });
  forget.addEventListener('click', () => {
    setToken('');
    input.value = '';
    location.reload();
  });
}

/** What a page shows when loading it failed: the hub's code and message, and what to try. */
export function renderFailure(title, error) {
  setTitle(title);
  const hints = [];
  if (error?.status === 401 || error?.status === 403 || error?.status === 404) {
    hints.push(getToken() ? 'Your token may not give access to it.' : 'If it is private, use your API token (the “API token” box above).');
  }
  clear(main).append(
    h('h1', null, title),
    h('div', { class: 'error-panel', role: 'alert' },
      h('p', null, h('strong', null, error?.code ?? 'ERROR'), ': ', error?.message ?? String(error)),
      hints.map((hint) => h('p', null, hint))),
    h('p', null, h('a', { href: '/' }, 'Back to the search')),
  );
}

async function route() {
  const path = decodeURI(location.pathname);
  const params = new URLSearchParams(location.search);
  try {
    let match;
    if (path === '/' || path === '/index.html') {
      const { renderSearchPage } = await import('./search-page.js');
      await renderSearchPage(main, params);
    } else if ((match = /^\/models\/([^/]+)\/([^/]+)\/?$/.exec(path))) {
      const { renderModelPage } = await import('./model-page.js');
      await renderModelPage(main, match[1], match[2], params);
    } else if ((match = /^\/tasks\/([^/]+)\/?$/.exec(path))) {
      const { renderTaskPage } = await import('./task-page.js');
      await renderTaskPage(main, match[1]);
    } else {
      renderFailure('Page not found', { code: 'NOT_FOUND', message: `Nothing lives at ${path}.` });
    }
  } catch (error) {
    renderFailure('Something went wrong', error);
  }
  main.setAttribute('aria-busy', 'false');
}

setUpTokenBox();
main.setAttribute('aria-busy', 'true');
void route();
