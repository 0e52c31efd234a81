// Calls to /api/v1 with the bearer token; errors become ApiError carrying the API's zh/en
// message and its field problems, shown by errorBox() or next to form fields by showFieldErrors().

import { h } from './dom.js';
import { pick, t } from './i18n.js';

export const API = '/api/v1';
const TOKEN_KEY = 'cdw.token';

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export class ApiError extends Error {
  constructor(status, body) {
    const zh = body?.message_zh || `请求失败（${status}）`;
    const en = body?.message_en || `Request failed (${status})`;
    super(`${zh} / ${en}`);
    this.status = status;
    this.code = body?.code || `http_${status}`;
    this.zh = zh;
    this.en = en;
    this.problems = body?.problems || [];
    this.problemCount = body?.problem_count ?? this.problems.length;
  }
}

let onUnauthorised = () => {};
export function whenUnauthorised(callback) {
  onUnauthorised = callback;
}

function url(path, query) {
  const target = new URL(path.startsWith('/') ? path : `${API}/${path}`, location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value === undefined || value === null || value === '') continue;
    target.searchParams.set(name, value);
  }
  return target.pathname + target.search;
}

/** fetch() with the bearer token. ``body`` is sent as JSON, ``form`` as form data. */
export async function request(path, { method = 'GET', query, body, form, raw = false, signal } = {}) {
  const headers = { Accept: 'application/json' };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload;
  if (form) {
    payload = new URLSearchParams(form);
  } else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url(path, query), { method, headers, body: payload, signal });
  } catch (exc) {
    if (exc.name === 'AbortError') throw exc;
    throw new ApiError(0, { code: 'network', message_zh: '无法连接服务器', message_en: 'Cannot reach the server' });
  }
  if (raw && response.ok) return response;
  if (!response.ok) {
    let errorBody = null;
    try {
      errorBody = await response.json();
    } catch {
      /* not JSON */
    }
    const error = new ApiError(response.status, errorBody);
    if (response.status === 401 && token) onUnauthorised(error);
    throw error;
  }
  if (response.status === 204) return null;
  const type = response.headers.get('content-type') || '';
  return type.includes('json') ? response.json() : response.text();
}

export const get = (path, query, opts = {}) => request(path, { ...opts, query });
export const post = (path, body, opts = {}) => request(path, { ...opts, method: 'POST', body });
export const patch = (path, body, opts = {}) => request(path, { ...opts, method: 'PATCH', body });
export const put = (path, body, opts = {}) => request(path, { ...opts, method: 'PUT', body });

/** True when the API has no such route (404 with the app's generic not-found, or 405). */
export function isMissingRoute(error) {
  return error instanceof ApiError && (error.status === 405 || (error.status === 404 && error.code === 'http_404'));
}

/** An error panel: the message in the current language, the other one beside it, every problem. */
export function errorBox(error) {
  if (!(error instanceof ApiError)) {
    return h('div', { class: 'error-box', role: 'alert' }, String(error?.message || error));
  }
  const other = pick(error.en, error.zh);
  return h(
    'div',
    { class: 'error-box', role: 'alert', dataset: { code: error.code, status: error.status } },
    h('strong', {}, pick(error.zh, error.en)),
    other !== pick(error.zh, error.en) ? h('span', { class: 'other-lang' }, ` ${other}`) : null,
    error.problems.length
      ? h(
          'ul',
          {},
          error.problems.map((p) =>
            h(
              'li',
              { dataset: { field: p.field } },
              h('code', {}, [p.source, p.line].filter((x) => x !== undefined && x !== null).concat(p.field).join(':')),
              ` ${pick(p.zh, p.en)}`,
            ),
          ),
        )
      : null,
    error.problemCount > error.problems.length ? h('p', {}, t('count_of', { n: error.problemCount })) : null,
  );
}

/** Puts each problem next to the form input its field names (last part of the dotted path). */
export function showFieldErrors(form, error) {
  for (const old of form.querySelectorAll('.field-error')) old.remove();
  if (!(error instanceof ApiError)) return false;
  let placed = 0;
  for (const p of error.problems) {
    const name = String(p.field).split('.').pop();
    const input = form.querySelector(`[name="${CSS.escape(name)}"]`);
    if (!input) continue;
    input.setAttribute('aria-invalid', 'true');
    input.insertAdjacentElement('afterend', h('span', { class: 'field-error', dataset: { field: name } }, pick(p.zh, p.en)));
    placed += 1;
  }
  return placed === error.problems.length && placed > 0;
}
