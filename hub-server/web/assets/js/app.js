/* global document, location, URLSearchParams */
// Entry point of every page: the token box, then the page the path names. Pages are whole
// documents (links and forms navigate), so the URL always holds the state and the back button works.
import { API, api, getToken, setCsrfToken, setToken } from './api.js';
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

/**
 * Who is signed in: "Sign in" where the hub offers an identity provider, or the user and a
 * sign-out form (a POST carrying the session's CSRF token). A pasted API token takes precedence.
 */
async function setUpAccount() {
  const box = document.getElementById('account');
  let me;
  try {
    me = await api(`${API}/whoami`);
  } catch {
    return;
  }
  setCsrfToken(me.csrf_token);
  if (me.token_kind === 'session') {
    box.append(
      h('span', { id: 'signed-in-as' }, 'Signed in as ', h('strong', null, me.user)),
      h('form', { method: 'post', action: '/auth/logout', id: 'sign-out-form' },
        h('input', { type: 'hidden', name: 'csrf_token', value: me.csrf_token }),
        h('button', { type: 'submit', class: 'secondary' }, 'Sign out')),
    );
  } else if (me.sign_in?.oidc && !getToken()) {
    const returnTo = `${location.pathname}${location.search}`;
    box.append(h('a', { href: `${me.sign_in.url}?return_to=${encodeURIComponent(returnTo)}`, id: 'sign-in' }, 'Sign in'));
  }
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
// The CSRF token must be known before a page can post (a run from "Try it").
void setUpAccount().finally(() => route());
