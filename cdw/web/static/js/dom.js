// A tiny element builder: h('div', {class: 'x', onclick: fn}, 'text', child, [children]).

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') el.addEventListener(name.slice(2), value);
    else if (name === 'class') el.className = value;
    else if (name === 'dataset') Object.assign(el.dataset, value);
    else if (name === 'style' && typeof value === 'object') Object.assign(el.style, value);
    else if (value === true) el.setAttribute(name, '');
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/** The hash route's query as an object (``#/replay?plate=X`` -> {plate: 'X'}). */
export function hashParams() {
  const hash = location.hash.replace(/^#\/?/, '');
  const at = hash.indexOf('?');
  return Object.fromEntries(new URLSearchParams(at < 0 ? '' : hash.slice(at + 1)));
}

export function hashFor(view, params = {}) {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== '')).toString();
  return `#/${view}${query ? `?${query}` : ''}`;
}

/** Empties ``el`` and appends ``children`` (arrays flattened, null skipped). */
export function fill(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}
