// Review queue (enforcement officers): flags filtered by code, score, day, haulier and status;
// each with its evidence map (GET /enforcement/flags/{id}/evidence), the zh/en explanation, the
// measured values against their thresholds, the haulier's explanation; dismiss, warn or open a
// case. On a phone the queue and the flag are two screens.

import { errorBox, get, post, showFieldErrors } from '../api.js';
import { clear, fill, h, hashFor } from '../dom.js';
import { fmtTime, getLang, pick, t } from '../i18n.js';
import { consoleSettings, createMap, fitTo, L } from '../map.js';

function sevClass(severity) {
  return severity >= 80 ? 'high' : severity >= 50 ? 'mid' : '';
}

function fmtValue(value) {
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toFixed(2);
  if (value && typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** Measured values beside the thresholds of the same name (the rest listed after). */
function valuesTable(measured, thresholds) {
  const names = [...new Set([...Object.keys(measured || {}), ...Object.keys(thresholds || {})])];
  return h(
    'table',
    { class: 'list values', id: 'flag-values' },
    h('thead', {}, h('tr', {}, h('th', {}, ''), h('th', {}, t('measured')), h('th', {}, t('thresholds')))),
    h(
      'tbody',
      {},
      names.map((name) =>
        h(
          'tr',
          { dataset: { name } },
          h('td', {}, h('code', {}, name)),
          h('td', {}, name in (measured || {}) ? fmtValue(measured[name]) : ''),
          h('td', {}, name in (thresholds || {}) ? fmtValue(thresholds[name]) : ''),
        ),
      ),
    ),
  );
}

export function evidenceMap(element, ev) {
  const { map, renderer } = createMap(element);
  const style = {
    corridor: { color: '#2f9e44', weight: 1, fillColor: '#69db7c', fillOpacity: 0.2, dashArray: '3 3' },
    route: { color: '#2b8a3e', weight: 3 },
  };
  const layers = L.featureGroup().addTo(map);
  L.geoJSON(ev.geofences, { renderer, style: { color: '#1971c2', weight: 1.5, fillOpacity: 0.08 }, onEachFeature: (f, l) => f.properties?.name && l.bindTooltip(f.properties.name) }).addTo(layers);
  L.geoJSON(ev.corridor, { renderer, style: (f) => style[f.properties?.kind] || style.route }).addTo(layers);
  const track = L.geoJSON(ev.track, { renderer, style: { color: '#1c7ed6', weight: 3, opacity: 0.8 }, pointToLayer: (f, ll) => L.circleMarker(ll, { renderer, radius: 3 }) }).addTo(layers);
  const flag = L.geoJSON(ev.flag_geometry, {
    renderer,
    style: { color: '#e03131', weight: 6, opacity: 0.75 },
    pointToLayer: (f, ll) => L.circleMarker(ll, { renderer, radius: 9, color: '#fff', weight: 2, fillColor: '#e03131', fillOpacity: 1 }),
  }).addTo(layers);
  L.circleMarker([ev.flag.lat, ev.flag.lon], { renderer, radius: 8, color: '#fff', weight: 2, fillColor: '#e03131', fillOpacity: 1 }).addTo(layers);
  fitTo(map, track.getLayers().length ? L.featureGroup([track, flag]) : layers, 20);
  element.dataset.ready = 'yes';
  return map;
}

export default {
  id: 'review',
  title: 'view_review',
  roles: ['admin', 'enforcement_officer'],
  async render(main, { params, navigate }) {
    const settings = await consoleSettings().catch(() => ({ flag_codes: [], review_statuses: [] }));
    const hauliers = await get('hauliers', { limit: 500 }).then((p) => p.data).catch(() => []);
    const filters = {
      code: params.code || '',
      min_severity: params.min_severity || '',
      day: params.day || '',
      haulier_id: params.haulier_id || '',
      status: params.status || 'open',
    };
    const select = (name, options, value) =>
      h('select', { name, id: `filter-${name}` }, options.map(([v, label]) => h('option', { value: v, selected: String(v) === String(value) }, label)));
    const form = h(
      'form',
      { class: 'toolbar', id: 'review-filters' },
      h('label', {}, t('code'), select('code', [['', t('all')], ...settings.flag_codes.map((c) => [c.value, pick(c.zh, c.en)])], filters.code)),
      h('label', {}, t('min_severity'), h('input', { name: 'min_severity', type: 'number', min: 0, max: 100, value: filters.min_severity, inputmode: 'numeric' })),
      h('label', {}, t('day'), h('input', { name: 'day', type: 'date', value: filters.day })),
      h('label', {}, t('haulier'), select('haulier_id', [['', t('all')], ...hauliers.map((x) => [x.id, x.name])], filters.haulier_id)),
      h('label', {}, t('status'), select('status', settings.review_statuses.map((s) => [s.value, pick(s.zh, s.en)]), filters.status)),
      h('button', { type: 'submit', class: 'primary' }, t('apply')),
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const data = Object.fromEntries(new FormData(form));
      navigate('review', data);
    });
    const queueEl = h('div', { class: 'queue', id: 'review-queue' }, form);
    const detail = h('div', { class: 'detail', id: 'review-detail' }, h('p', { class: 'empty' }, t('select_flag')));
    const layout = h('div', { class: 'review' }, queueEl, detail);
    main.append(layout);

    let evidenceMapInstance = null;
    const dropMap = () => {
      evidenceMapInstance?.remove();
      evidenceMapInstance = null;
    };

    const query = {
      code: filters.code,
      min_severity: filters.min_severity,
      day_from: filters.day,
      day_to: filters.day,
      haulier_id: filters.haulier_id,
      status: filters.status,
      limit: 200,
    };
    let page;
    try {
      page = await get('enforcement/queue', query);
    } catch (error) {
      queueEl.append(errorBox(error));
      return dropMap;
    }
    const rows = page.data.map((f) =>
      h(
        'tr',
        { class: 'queue-row', dataset: { flag: f.id, code: f.code, plate: f.vehicle }, onclick: () => navigate('review', { ...params, flag: f.id }) },
        h('td', {}, h('span', { class: `sev ${sevClass(f.severity)}` }, f.severity)),
        h('td', {}, h('strong', {}, f.vehicle), h('div', { class: 'muted' }, pick(f.label_zh, f.label_en))),
        h('td', { class: 'muted' }, fmtTime(f.start)),
      ),
    );
    queueEl.append(
      h('div', { class: 'status-line', id: 'queue-count' }, t('count_of', { n: page.count })),
      page.data.length
        ? h('table', { class: 'list' }, h('thead', {}, h('tr', {}, h('th', {}, t('severity')), h('th', {}, `${t('plate')} / ${t('code')}`), h('th', {}, t('time')))), h('tbody', {}, rows))
        : h('p', { class: 'empty', id: 'queue-empty' }, t('queue_empty')),
    );

    if (!params.flag) return dropMap;
    for (const row of rows) row.classList.toggle('selected', row.dataset.flag === params.flag);
    layout.classList.add('has-detail');
    await showFlag(Number(params.flag));
    return dropMap;

    async function showFlag(id) {
      dropMap();
      fill(detail, h('p', { class: 'muted' }, t('loading')));
      let ev;
      try {
        ev = await get(`enforcement/flags/${id}/evidence`);
      } catch (error) {
        fill(detail, errorBox(error));
        return;
      }
      const f = ev.flag;
      const mapEl = h('div', { class: 'evidence-map cdw-map', id: 'evidence-map' });
      const other = getLang() === 'zh' ? f.explanation_en : f.explanation_zh;
      const back = { ...params };
      delete back.flag;
      const reason = h('textarea', { name: 'reason', id: 'review-reason', rows: 2, placeholder: t('reason'), maxlength: 2000 });
      const title = h('input', { name: 'title', id: 'case-title', type: 'text', value: `${f.vehicle} ${pick(f.label_zh, f.label_en)}`, maxlength: 200 });
      const result = h('div', { id: 'review-result' });
      const actionForm = h(
        'form',
        { class: 'card actions', id: 'review-actions' },
        h('label', { style: { flex: '1 1 100%' } }, t('reason'), reason),
        h('label', { style: { flex: '1 1 100%' } }, t('case_title'), title),
        h('button', { type: 'button', id: 'action-dismiss', onclick: () => act('dismiss') }, t('dismiss')),
        h('button', { type: 'button', id: 'action-warn', class: 'warn', onclick: () => act('warn') }, t('warn')),
        h('button', { type: 'button', id: 'action-case', class: 'danger', onclick: () => act('case') }, t('open_case')),
        result,
      );
      if (f.status !== 'open') for (const b of actionForm.querySelectorAll('button')) b.disabled = true;

      async function act(kind) {
        clear(result);
        try {
          if (kind === 'case') {
            const opened = await post('enforcement/cases', { flag_ids: [f.id], title: title.value, reason: reason.value });
            result.append(h('p', { class: 'ok', id: 'review-done', dataset: { case: opened.id } }, t('done_case', { no: opened.case_no }), ' ', h('a', { href: hashFor('cases', { case: opened.id }), id: 'open-case-link' }, t('view_cases'))));
          } else {
            const done = await post(`enforcement/flags/${f.id}/${kind}`, { reason: reason.value });
            result.append(h('p', { class: 'ok', id: 'review-done', dataset: { status: done.status } }, t(kind === 'dismiss' ? 'done_dismissed' : 'done_warned'), ` (${pick(done.status_zh, done.status_en)})`));
          }
          for (const b of actionForm.querySelectorAll('button')) b.disabled = true;
          const row = queueEl.querySelector(`tr[data-flag="${f.id}"]`);
          if (row) row.classList.add('done');
        } catch (error) {
          showFieldErrors(actionForm, error);
          result.append(errorBox(error));
        }
      }

      fill(detail, 
        h('button', { type: 'button', class: 'link only-narrow', id: 'review-back', onclick: () => navigate('review', back) }, `← ${t('back')}`),
        h(
          'div',
          { class: 'card', id: 'flag-head', dataset: { flag: f.id, status: f.status } },
          h('h3', {}, h('span', { class: `sev ${sevClass(f.severity)}` }, f.severity), ' ', f.vehicle, ' · ', pick(f.label_zh, f.label_en), ' ', h('span', { class: 'badge' }, pick(f.status_zh, f.status_en))),
          h('p', { id: 'flag-explanation' }, pick(f.explanation_zh, f.explanation_en)),
          h('p', { class: 'muted', id: 'flag-explanation-other' }, other),
          h(
            'div',
            { class: 'kv' },
            h('span', { class: 'muted' }, t('time')), h('span', {}, `${fmtTime(f.start)} – ${fmtTime(f.end, false)}`),
            h('span', { class: 'muted' }, t('permit')), h('span', {}, ev.permit?.permit_no || f.permit_no || '—'),
            h('span', { class: 'muted' }, t('haulier')), h('span', {}, ev.vehicle ? (hauliers.find((x) => x.id === ev.vehicle.haulier_id)?.name || `#${ev.vehicle.haulier_id}`) : '—'),
          ),
          h('p', {}, h('a', { href: hashFor('replay', { plate: f.vehicle, start: new Date(new Date(f.start).getTime() - 3600e3).toISOString(), end: new Date(new Date(f.end).getTime() + 3600e3).toISOString(), flag: f.id }), id: 'flag-replay-link' }, t('open_replay'))),
        ),
        mapEl,
        h('div', { class: 'card' }, h('h3', {}, `${t('measured')} / ${t('thresholds')}`), valuesTable(ev.measured, ev.thresholds)),
        h(
          'div',
          { class: 'card', id: 'haulier-explanations' },
          h('h3', {}, t('haulier_explanations')),
          ev.explanations.length ? ev.explanations.map((x) => h('p', {}, h('span', { class: 'muted' }, `${x.author} · ${fmtTime(x.at)}：`), x.text)) : h('p', { class: 'muted' }, t('no_explanations')),
        ),
        actionForm,
        ev.reviews.length
          ? h('div', { class: 'card' }, h('h3', {}, t('reviews')), ev.reviews.map((r) => h('p', {}, `${fmtTime(r.at)} · ${r.reviewer} · ${r.outcome} · ${r.reason}`)))
          : null,
        ev.earlier_flags.length
          ? h('div', { class: 'card' }, h('h3', {}, t('earlier_flags')), ev.earlier_flags.map((e) => h('p', {}, h('a', { href: hashFor('review', { ...params, flag: e.id, status: e.status }) }, `${fmtTime(e.start)} · ${pick(e.label_zh, e.label_en)} · ${e.severity}`))))
          : null,
      );
      evidenceMapInstance = evidenceMap(mapEl, ev);
    }
  },
};
