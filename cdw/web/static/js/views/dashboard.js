// Dashboard 领导驾驶舱 (viewers and officers): KPIs of a period (GET /dashboard/kpis: manifests,
// 综合利用率, capacity, flags, cases), flags by code and day, the hotspots on the map and the
// three control lists 三张管控清单 with their CSV and XLSX exports (an audited download).

import { errorBox, get, getToken } from '../api.js';
import { fill, h } from '../dom.js';
import { fmtTime, pick, t } from '../i18n.js';
import { consoleSettings, createMap, L } from '../map.js';

const LISTS = ['sites', 'hauliers', 'roads'];

function card(key, value, id) {
  return h(
    'div',
    { class: 'card kpi', dataset: { kpi: id }, style: { flex: '1 1 150px', margin: 0 } },
    h('div', { class: 'muted' }, t(key)),
    h('strong', { style: { fontSize: '1.4em' } }, value),
  );
}

function num(value, digits = 0) {
  if (value === null || value === undefined) return '—';
  return Number(value).toLocaleString(undefined, { maximumFractionDigits: digits });
}

async function download(kind, fmt, query) {
  const search = new URLSearchParams({ ...query, fmt }).toString();
  const response = await fetch(`/api/v1/enforcement/control-lists/${kind}?${search}`, {
    headers: { Authorization: `Bearer ${getToken()}` },
  });
  if (!response.ok) throw new Error(`${response.status}`);
  const blob = await response.blob();
  const link = h('a', { href: URL.createObjectURL(blob), download: `control-list-${kind}.${fmt}` });
  document.body.append(link);
  link.click();
  link.remove();
}

export default {
  id: 'dashboard',
  title: 'view_dashboard',
  roles: ['admin', 'permit_officer', 'enforcement_officer', 'viewer'],
  async render(main, { params, navigate, user }) {
    let settings = null;
    try {
      settings = await consoleSettings();
    } catch {
      settings = null;
    }
    const last = params.to || settings?.latest_day || new Date().toISOString().slice(0, 10);
    const first = params.from || last;
    const fromInput = h('input', { type: 'date', name: 'date_from', id: 'dash-from', value: first });
    const toInput = h('input', { type: 'date', name: 'date_to', id: 'dash-to', value: last });
    const form = h(
      'form',
      { class: 'toolbar', id: 'dash-form' },
      h('label', {}, t('from'), fromInput),
      h('label', {}, t('to'), toInput),
      h('button', { type: 'submit', class: 'primary' }, t('apply')),
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      navigate('dashboard', { from: fromInput.value, to: toInput.value });
    });
    const kpiEl = h('div', { class: 'kpis', id: 'dash-kpis', style: { display: 'flex', flexWrap: 'wrap', gap: '8px', margin: '8px 0' } });
    const flagsEl = h('div', { id: 'dash-flags' });
    const mapEl = h('div', { class: 'map', id: 'dash-map', style: { minHeight: '360px', height: '45vh' } });
    const hotspotEl = h('div', { id: 'dash-hotspots' });
    const listsEl = h('div', { id: 'dash-lists' });
    main.append(form, kpiEl, h('div', { class: 'review' }, h('div', { class: 'detail' }, mapEl, hotspotEl), h('div', { class: 'queue' }, flagsEl)), listsEl);
    const { map, renderer } = createMap(mapEl);
    const period = { date_from: first, date_to: last };

    get('dashboard/kpis', period)
      .then((k) =>
        fill(
          kpiEl,
          card('kpi_manifests_issued', num(k.manifests_issued), 'manifests_issued'),
          card('kpi_manifests_closed', num(k.manifests_closed), 'manifests_closed'),
          card('kpi_manifests_overdue', num(k.manifests_overdue), 'manifests_overdue'),
          card('kpi_recycling', k.recycling_share === null ? '—' : `${(k.recycling_share * 100).toFixed(1)} %`, 'recycling_share'),
          card('kpi_remaining', `${num(k.remaining_m3)} / ${num(k.capacity_m3)} m³`, 'remaining'),
          card('kpi_flags', num(k.flags_total), 'flags_total'),
          card('kpi_cases', `${num(k.cases_opened)} / ${num(k.cases_closed)}`, 'cases'),
        ),
      )
      .catch((error) => fill(kpiEl, errorBox(error)));

    get('dashboard/flags-per-day', period)
      .then((data) => {
        const codes = Object.keys(data.codes).filter((c) => data.data.some((d) => d.by_code[c]));
        fill(
          flagsEl,
          h('h3', {}, t('flags_by_day')),
          codes.length
            ? h(
                'table',
                { class: 'list', id: 'dash-flag-table' },
                h('thead', {}, h('tr', {}, h('th', {}, t('day')), codes.map((c) => h('th', { title: c }, pick(data.codes[c].zh, data.codes[c].en))), h('th', {}, t('total')))),
                h(
                  'tbody',
                  {},
                  data.data.map((d) =>
                    h('tr', {}, h('td', {}, d.day), codes.map((c) => h('td', {}, String(d.by_code[c] || 0))), h('td', {}, h('strong', {}, String(d.total)))),
                  ),
                ),
              )
            : h('p', { class: 'empty' }, t('no_flags_period')),
        );
      })
      .catch((error) => fill(flagsEl, errorBox(error)));

    get('enforcement/hotspots', { day_from: first, day_to: last })
      .then((spots) => {
        const layer = L.featureGroup().addTo(map);
        for (const s of spots) {
          L.circleMarker([s.lat, s.lon], { renderer, radius: 6 + Math.min(14, s.count * 2), color: '#c92a2a', fillOpacity: 0.45 })
            .bindTooltip(`${t('hotspot')} ${s.rank}: ${s.count} · ${s.vehicle_count} ${t('vehicles')}`)
            .addTo(layer);
        }
        if (spots.length) map.fitBounds(layer.getBounds(), { padding: [40, 40], maxZoom: 15 });
        fill(hotspotEl, h('p', { class: 'muted', id: 'dash-hotspot-count' }, t('hotspots_n', { n: spots.length })));
      })
      .catch((error) => fill(hotspotEl, errorBox(error)));

    const query = { day_from: first, day_to: last };
    for (const kind of LISTS) {
      const box = h('div', { class: 'card', dataset: { list: kind } });
      listsEl.append(box);
      get(`enforcement/control-lists/${kind}`, query)
        .then((list) => {
          const buttons = ['csv', 'xlsx'].map((fmt) =>
            h(
              'button',
              {
                type: 'button',
                class: 'export',
                dataset: { fmt },
                onclick: () => download(kind, fmt, query).catch((error) => box.append(errorBox(error))),
              },
              t(`export_${fmt}`),
            ),
          );
          fill(
            box,
            h('h3', {}, list.title_zh, ' ', h('span', { class: 'muted' }, t(`list_${kind}`)), ' ', buttons),
            list.data.length
              ? h(
                  'table',
                  { class: 'list' },
                  h('thead', {}, h('tr', {}, ['rank', 'name', 'violations', 'last_violation'].map((k) => h('th', {}, t(k))))),
                  h(
                    'tbody',
                    {},
                    list.data.slice(0, 10).map((row) =>
                      h('tr', {}, h('td', {}, String(row.rank)), h('td', {}, row.name), h('td', {}, String(row.violations)), h('td', {}, row.last_violation ? fmtTime(row.last_violation) : '—')),
                    ),
                  ),
                )
              : h('p', { class: 'empty' }, t('none')),
          );
        })
        .catch((error) => fill(box, errorBox(error)));
    }
    void user;
    return () => map.remove();
  },
};
