// Citizen reports 举报 (enforcement officers, admins): place the report on the map (a click) or
// give an address the registry knows, a time window, a radius, notes and a photo; the answer
// (GET /citizen-reports/{id}/trucks) lists the trucks that stopped or passed there, ranked
// (stopped > loaded→empty > off route > passed), each with a link to its track replay and, when
// a flag overlaps its visit, to open a case from that flag.

import { ApiError, errorBox, get, getToken, post, showFieldErrors } from '../api.js';
import { clear, fill, h } from '../dom.js';
import { fmtTime, pick, t } from '../i18n.js';
import { consoleSettings, createMap, L } from '../map.js';

const TZ_OFFSET = '+08:00';

function localInput(iso) {
  // an ISO instant as the value of a datetime-local input, in Beijing time
  const d = new Date(new Date(iso).getTime() + 8 * 3600 * 1000);
  return d.toISOString().slice(0, 16);
}

async function uploadPhoto(reportId, file) {
  const body = new FormData();
  body.append('file', file, file.name);
  const response = await fetch(`/api/v1/citizen-reports/${reportId}/photo`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${getToken()}`, Accept: 'application/json' },
    body,
  });
  if (!response.ok) {
    let parsed = null;
    try {
      parsed = await response.json();
    } catch {
      /* not JSON */
    }
    throw new ApiError(response.status, parsed);
  }
  return response.json();
}

function reasons(truck) {
  return truck.reasons.map((r) => h('span', { class: `tag reason-${r.code}` }, pick(r.zh, r.en)));
}

export default {
  id: 'reports',
  title: 'view_reports',
  roles: ['admin', 'enforcement_officer'],
  async render(main, { params, navigate }) {
    // both panes at once, also on a phone (stacked): the form, then the map and the answer
    const layout = h('div', { class: 'review has-detail reports-view' });
    const side = h('div', { class: 'report-side', id: 'report-side', style: { overflow: 'auto', background: 'var(--panel)' } });
    const mapBox = h('div', { class: 'detail' });
    const mapEl = h('div', { class: 'map', id: 'report-map', style: { minHeight: '420px', height: '55vh' } });
    const results = h('div', { id: 'report-results' });
    mapBox.append(mapEl, results);
    layout.append(side, mapBox);
    main.append(layout);

    const { map, renderer } = createMap(mapEl);
    const overlay = L.layerGroup().addTo(map);
    let settings = null;
    try {
      settings = await consoleSettings();
    } catch {
      settings = null;
    }
    const day = settings?.latest_day || new Date().toISOString().slice(0, 10);

    const lon = h('input', { name: 'lon', id: 'report-lon', type: 'number', step: 'any', placeholder: t('click_map') });
    const lat = h('input', { name: 'lat', id: 'report-lat', type: 'number', step: 'any', placeholder: t('click_map') });
    const address = h('input', { name: 'address', id: 'report-address', maxlength: 300 });
    const start = h('input', { name: 'window_start', id: 'report-start', type: 'datetime-local', value: `${day}T06:00`, required: true });
    const end = h('input', { name: 'window_end', id: 'report-end', type: 'datetime-local', value: `${day}T20:00`, required: true });
    const radius = h('input', { name: 'radius_m', id: 'report-radius', type: 'number', min: 10, max: 2000, step: 10, value: 200 });
    const notes = h('textarea', { name: 'notes', id: 'report-notes', rows: 3, maxlength: 2000 });
    const photo = h('input', { name: 'file', id: 'report-photo', type: 'file', accept: 'image/jpeg,image/png,image/webp' });
    const errors = h('div', { class: 'form-errors' });
    const form = h(
      'form',
      { class: 'card form', id: 'report-form' },
      h('h3', {}, t('new_report')),
      h('p', { class: 'muted' }, t('report_hint')),
      h('label', {}, t('lon'), lon),
      h('label', {}, t('lat'), lat),
      h('label', {}, t('address'), address),
      h('label', {}, t('from'), start),
      h('label', {}, t('to'), end),
      h('label', {}, t('radius_m'), radius),
      h('label', {}, t('notes'), notes),
      h('label', {}, t('photo'), photo),
      errors,
      h('button', { type: 'submit', class: 'primary', id: 'report-submit' }, t('find_trucks')),
    );
    const listEl = h('div', { id: 'report-list' });
    side.append(form, listEl);

    function drawPlace(lonValue, latValue, radiusM) {
      overlay.clearLayers();
      if (!Number.isFinite(lonValue) || !Number.isFinite(latValue)) return;
      L.circle([latValue, lonValue], { renderer, radius: radiusM, color: '#e03131', weight: 2, fillOpacity: 0.08 }).addTo(overlay);
      L.circleMarker([latValue, lonValue], { renderer, radius: 5, color: '#e03131', fillOpacity: 1 }).addTo(overlay);
    }

    map.on('click', (event) => {
      lon.value = event.latlng.lng.toFixed(6);
      lat.value = event.latlng.lat.toFixed(6);
      drawPlace(Number(lon.value), Number(lat.value), Number(radius.value) || 200);
    });
    radius.addEventListener('change', () => drawPlace(Number(lon.value), Number(lat.value), Number(radius.value) || 200));

    async function showResults(reportId) {
      fill(results, h('p', { class: 'muted' }, t('loading')));
      let report;
      let found;
      try {
        report = await get(`citizen-reports/${reportId}`);
        found = await get(`citizen-reports/${reportId}/trucks`);
      } catch (error) {
        fill(results, errorBox(error));
        return;
      }
      drawPlace(report.lon, report.lat, report.radius_m);
      // not animated: leaving the view mid-animation (a replay link) would end it on a removed map
      map.setView([report.lat, report.lon], Math.max(map.getZoom(), 15), { animate: false });
      for (const truck of found.data) {
        L.circleMarker([truck.closest_lat, truck.closest_lon], {
          renderer,
          radius: truck.rank === 1 ? 8 : 5,
          color: '#fff',
          weight: 1,
          fillColor: truck.stopped ? '#e03131' : truck.unloaded ? '#d9480f' : truck.off_route ? '#f08c00' : '#1c7ed6',
          fillOpacity: 0.9,
        })
          .bindTooltip(`${truck.rank}. ${truck.plate}`)
          .addTo(overlay);
      }
      const rows = found.data.map((truck) => {
        const replay = h(
          'button',
          {
            type: 'button',
            class: 'link replay-link',
            dataset: { plate: truck.plate },
            onclick: () => navigate('replay', { plate: truck.plate, start: truck.replay.start, end: truck.replay.end }),
          },
          t('view_replay'),
        );
        const caseCell = h('td', {});
        if (truck.flag_ids.length) {
          caseCell.append(
            h(
              'button',
              {
                type: 'button',
                class: 'link open-case',
                dataset: { flag: truck.flag_ids[0] },
                onclick: async (event) => {
                  event.target.disabled = true;
                  try {
                    const opened = await post('enforcement/cases', {
                      flag_ids: truck.flag_ids,
                      title: `${t('report_case_title')} #${report.id} ${truck.plate}`,
                      reason: report.notes || t('report_case_title'),
                    });
                    navigate('cases', { case: opened.id });
                  } catch (error) {
                    caseCell.append(errorBox(error));
                    event.target.disabled = false;
                  }
                },
              },
              t('open_case'),
            ),
          );
        } else {
          caseCell.append(h('span', { class: 'muted', title: t('no_flag_for_case') }, '—'));
        }
        return h(
          'tr',
          { class: 'truck-row', dataset: { plate: truck.plate, rank: truck.rank } },
          h('td', {}, String(truck.rank)),
          h('td', {}, h('strong', {}, truck.plate), h('div', { class: 'muted' }, truck.haulier_name || '')),
          h('td', {}, reasons(truck)),
          h('td', {}, fmtTime(truck.closest_ts)),
          h('td', {}, `${Math.round(truck.distance_m)} m`),
          h('td', {}, truck.dwell_s ? `${Math.round(truck.dwell_s / 60)} min` : '—'),
          h('td', {}, replay),
          caseCell,
        );
      });
      fill(
        results,
        h('h3', {}, t('report_trucks', { n: found.vehicles })),
        h('p', { class: 'muted' }, `${fmtTime(found.window_start)} – ${fmtTime(found.window_end)} · R ${found.radius_m} m · ${found.query_s} s`),
        report.photo ? h('p', {}, t('photo'), ': ', h('span', { id: 'report-photo-name' }, report.photo.name)) : null,
        found.data.length
          ? h(
              'table',
              { class: 'list', id: 'report-trucks' },
              h(
                'thead',
                {},
                h('tr', {}, ['rank', 'plate', 'reason', 'closest_time', 'distance', 'dwell', 'view_replay', 'open_case'].map((k) => h('th', {}, t(k)))),
              ),
              h('tbody', {}, rows),
            )
          : h('p', { class: 'empty' }, t('no_trucks_there')),
      );
    }

    async function loadList() {
      try {
        const page = await get('citizen-reports', { limit: 50 });
        fill(
          listEl,
          h('h3', {}, t('reports_list')),
          page.data.length
            ? h(
                'ul',
                { class: 'items' },
                page.data.map((r) =>
                  h(
                    'li',
                    { class: `item${String(r.id) === params.report ? ' selected' : ''}`, dataset: { report: r.id }, onclick: () => navigate('reports', { report: r.id }) },
                    `#${r.id} ${fmtTime(r.window_start)} · ${r.address || `${r.lon.toFixed(4)}, ${r.lat.toFixed(4)}`}`,
                  ),
                ),
              )
            : h('p', { class: 'empty' }, t('none')),
        );
      } catch (error) {
        fill(listEl, errorBox(error));
      }
    }

    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clear(errors);
      for (const old of form.querySelectorAll('.field-error')) old.remove();
      const body = {
        address: address.value.trim(),
        window_start: `${start.value}:00${TZ_OFFSET}`,
        window_end: `${end.value}:00${TZ_OFFSET}`,
        radius_m: Number(radius.value),
        notes: notes.value,
      };
      if (lon.value !== '' || lat.value !== '') {
        body.lon = lon.value === '' ? null : Number(lon.value);
        body.lat = lat.value === '' ? null : Number(lat.value);
      }
      let report;
      try {
        report = await post('citizen-reports', body);
        if (photo.files.length) await uploadPhoto(report.id, photo.files[0]);
      } catch (error) {
        showFieldErrors(form, error);
        errors.append(errorBox(error));
        if (!report) return;
      }
      navigate('reports', { report: report.id });
    });

    loadList();
    if (params.report) {
      const known = await get(`citizen-reports/${Number(params.report)}`).catch(() => null);
      if (known) {
        lon.value = known.lon;
        lat.value = known.lat;
        address.value = known.address;
        start.value = localInput(known.window_start);
        end.value = localInput(known.window_end);
        radius.value = known.radius_m;
        notes.value = known.notes;
      }
      showResults(Number(params.report));
    }
    return () => map.remove();
  },
};
