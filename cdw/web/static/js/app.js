// The console's shell: log-in (POST /api/v1/auth/token, token in sessionStorage), the current
// user (GET /api/v1/auth/me), a menu of the views the user's role may open, and a hash router
// (#/<view>?<params>). The API enforces every role and scope; the menu only hides what a role
// could not use.

import { ApiError, errorBox, get, request, setToken, getToken, whenUnauthorised } from './api.js';
import { clear, h, hashFor, hashParams } from './dom.js';
import { getLang, setLang, t } from './i18n.js';
import { consoleSettings, resetSettings } from './map.js';
import { ROLE_HOME, VIEWS } from './views/index.js';

const root = document.getElementById('app');
const state = { user: null, cleanup: null, current: null, generation: 0 };

export function viewsFor(role) {
  return VIEWS.filter((view) => view.roles.includes(role));
}

function homeOf(role) {
  const allowed = viewsFor(role);
  const preferred = allowed.find((v) => v.id === ROLE_HOME[role]);
  return (preferred || allowed.find((v) => v.menu !== false) || allowed[0])?.id;
}

export function navigate(view, params = {}) {
  const target = hashFor(view, params);
  if (location.hash === target) route();
  else location.hash = target;
}

// --- log-in ----------------------------------------------------------------------------------

function loginPage(message) {
  runCleanup();
  state.user = null;
  const form = h(
    'form',
    { class: 'login-form', id: 'login-form' },
    h('h1', {}, t('app_title')),
    h('p', { class: 'muted' }, t('login_hint')),
    h('label', {}, t('username'), h('input', { name: 'username', autocomplete: 'username', required: true })),
    h('label', {}, t('password'), h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true })),
    h('div', { class: 'form-errors' }, message ? errorBox(message) : null),
    h('button', { type: 'submit', class: 'primary' }, t('login')),
    h('button', { type: 'button', class: 'link lang-switch', onclick: () => switchLanguage() }, t('language')),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const box = form.querySelector('.form-errors');
    clear(box);
    try {
      const token = await request('auth/token', {
        method: 'POST',
        form: { username: data.get('username'), password: data.get('password') },
      });
      setToken(token.access_token);
      await start();
    } catch (error) {
      box.append(errorBox(error));
    }
  });
  clear(root).append(h('main', { class: 'login-page' }, form));
  form.querySelector('input[name=username]').focus();
}

function logout() {
  setToken(null);
  resetSettings();
  history.replaceState(null, '', location.pathname);
  loginPage();
}

function switchLanguage() {
  setLang(getLang() === 'zh' ? 'en' : 'zh');
  if (state.user) shell();
  else loginPage();
}

whenUnauthorised(() => {
  setToken(null);
  loginPage(new ApiError(401, { code: 'not_authenticated', message_zh: '登录已失效，请重新登录', message_en: 'Your session ended; log in again' }));
});

// --- shell and router ------------------------------------------------------------------------

function shell() {
  const user = state.user;
  const menu = viewsFor(user.role).filter((v) => v.menu !== false);
  const nav = h(
    'nav',
    { class: 'menu', id: 'menu', 'aria-label': t('menu') },
    menu.map((view) =>
      h('a', { href: hashFor(view.id), class: 'menu-item', dataset: { view: view.id } }, t(view.title)),
    ),
  );
  const header = h(
    'header',
    { class: 'topbar' },
    h('button', { class: 'menu-toggle', type: 'button', 'aria-controls': 'menu', onclick: () => document.body.classList.toggle('menu-open') }, '☰'),
    h('span', { class: 'brand' }, h('span', { class: 'brand-long' }, t('app_title')), h('span', { class: 'brand-short' }, t('app_short'))),
    nav,
    h(
      'span',
      { class: 'who' },
      h('span', { class: 'user-name', id: 'user-name' }, user.full_name || user.username),
      h('span', { class: 'role-label', id: 'role-label', dataset: { role: user.role } }, t(`role_${user.role}`)),
      h('button', { type: 'button', class: 'link lang-switch', id: 'lang-switch', onclick: switchLanguage }, t('language')),
      h('button', { type: 'button', class: 'link', id: 'logout', onclick: logout }, t('logout')),
    ),
  );
  const main = h('main', { class: 'view', id: 'view' });
  clear(root).append(header, main);
  if (!menu.length) main.append(h('p', { class: 'empty' }, t('no_menus')));
  route();
}

function runCleanup() {
  state.generation += 1; // a view still loading is superseded
  if (typeof state.cleanup === 'function') {
    try {
      state.cleanup();
    } catch {
      /* a view's cleanup must not stop the next view */
    }
  }
  state.cleanup = null;
}

async function route() {
  if (!state.user) return;
  const name = location.hash.replace(/^#\/?/, '').split('?')[0];
  const allowed = viewsFor(state.user.role);
  const view = allowed.find((v) => v.id === name);
  if (!view) {
    const home = homeOf(state.user.role);
    if (home && name !== home) {
      history.replaceState(null, '', hashFor(home));
      return route();
    }
    return;
  }
  runCleanup();
  document.body.classList.remove('menu-open');
  for (const item of document.querySelectorAll('.menu-item')) {
    item.classList.toggle('active', item.dataset.view === view.id);
  }
  const main = document.getElementById('view');
  clear(main);
  main.dataset.view = view.id;
  document.title = `${t(view.title)} · ${t('app_short')}`;
  const ctx = { user: state.user, params: hashParams(), navigate, t };
  state.current = view.id;
  const generation = ++state.generation;
  try {
    const cleanup = (await view.render(main, ctx)) || null;
    // left while it was loading (another route ran meanwhile): its map and streams go now
    if (generation === state.generation) state.cleanup = cleanup;
    else if (typeof cleanup === 'function') {
      try {
        cleanup();
      } catch {
        /* as in runCleanup */
      }
    }
  } catch (error) {
    if (generation === state.generation) main.append(errorBox(error));
  }
}

window.addEventListener('hashchange', route);

async function start() {
  if (!getToken()) return loginPage();
  consoleSettings().catch(() => {}); // fetched beside /auth/me: every map view needs it
  try {
    state.user = await get('auth/me');
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return loginPage();
    clear(root).append(errorBox(error));
    return;
  }
  shell();
}

// For the browser tests and the curious: what is registered, and for whom.
window.cdw = { views: VIEWS.map(({ id, roles, menu }) => ({ id, roles, menu: menu !== false })), viewsFor: (r) => viewsFor(r).map((v) => v.id) };

start();
