// Permits 处置核准 (permit officers, admins): the list; an application with its route proposed on
// the map (POST /permits/route-proposals: the fastest permitted route and alternatives, the
// restricted zones drawn), chosen, edited by dragging its points, and checked on the road
// network (POST /permits/route-check); the API's field errors shown on the form; a permit's
// approval, rejection or amendment; the facilities' capacity.

import { errorBox, get, post, showFieldErrors } from '../api.js';
import { clear, fill, h } from '../dom.js';
import { fmtTime, pick, t } from '../i18n.js';
import { createMap, L } from '../map.js';

const ALT_COLOURS = ['#1971c2', '#7048e8', '#0ca678', '#f08c00'];
const EDIT_POINTS = 24; // draggable handles on a route

function lineOf(geojson) {
  if (!geojson) return null;
  if (geojson.type === 'Feature') return lineOf(geojson.geometry);
  if (geojson.type === 'FeatureCollection') return lineOf(geojson.features?.[0]);
  if (geojson.type === 'MultiLineString') return geojson.coordinates[0];
  if (geojson.type === 'LineString') return geojson.coordinates;
  return null;
}

/** Indices of about ``points`` evenly spaced vertices of a line of ``n`` (ends included). */
function handles(n, points = EDIT_POINTS) {
  const step = Math.max(1, Math.floor(n / points));
  const out = [];
  for (let i = 0; i < n; i += step) out.push(i);
  if (out[out.length - 1] !== n - 1) out.push(n - 1);
  return out;
}

/**
 * The route being edited: the whole line (every vertex of the proposal, so that it stays on
 * the roads), with a draggable handle on about EDIT_POINTS of its vertices; a handle dragged
 * moves its vertex. ``onchange`` after each drag.
 */
function routeEditor(map, renderer, onchange) {
  const group = L.layerGroup().addTo(map);
  let coords = [];
  let line = null;
  const icon = L.divIcon({ className: 'route-vertex leaflet-div-icon', iconSize: [12, 12] });
  function draw() {
    group.clearLayers();
    if (!coords.length) return;
    line = L.polyline(coords.map(([x, y]) => [y, x]), { renderer, color: '#e8590c', weight: 4, dashArray: '6 4' }).addTo(group);
    handles(coords.length).forEach((index, ordinal) => {
      const [x, y] = coords[index];
      const marker = L.marker([y, x], { draggable: true, icon, title: `${ordinal}` }).addTo(group);
      marker.getElement()?.setAttribute('data-vertex', String(ordinal));
      marker.on('drag', (event) => {
        const p = event.target.getLatLng();
        coords[index] = [p.lng, p.lat];
        line.setLatLngs(coords.map(([a, b]) => [b, a]));
      });
      marker.on('dragend', () => onchange(coords));
    });
  }
  return {
    set(next) {
      coords = next.map((c) => [Number(c[0]), Number(c[1])]);
      draw();
    },
    get: () => coords.slice(),
    clear() {
      coords = [];
      draw();
    },
  };
}

function field(labelKey, input) {
  return h('label', {}, t(labelKey), input);
}

export default {
  id: 'permits',
  title: 'view_permits',
  roles: ['admin', 'permit_officer'],
  async render(main, { params, navigate }) {
    const toolbar = h(
      'div',
      { class: 'toolbar' },
      h('button', { type: 'button', class: 'primary', id: 'permit-new', onclick: () => navigate('permits', { new: 1 }) }, t('new_application')),
      h('button', { type: 'button', id: 'permit-capacity', onclick: () => navigate('permits', { capacity: 1 }) }, t('facility_capacity')),
      ['submitted', 'approved', 'rejected', 'superseded'].map((s) =>
        h('button', { type: 'button', class: params.status === s ? 'selected' : '', onclick: () => navigate('permits', { status: s }) }, t(`pstatus_${s}`)),
      ),
    );
    const listEl = h('div', { class: 'queue', id: 'permit-list' });
    const detail = h('div', { class: 'detail', id: 'permit-detail' });
    main.append(toolbar, h('div', { class: 'review has-detail' }, listEl, detail));

    get('permits', { status: params.status, limit: 200 })
      .then((page) =>
        fill(
          listEl,
          h('div', { class: 'status-line' }, t('count_of', { n: page.count })),
          h(
            'table',
            { class: 'list' },
            h('thead', {}, h('tr', {}, ['permit', 'site', 'facility', 'state'].map((k) => h('th', {}, t(k))))),
            h(
              'tbody',
              {},
              page.data.map((p) =>
                h(
                  'tr',
                  { class: `permit-row${String(p.id) === params.permit ? ' selected' : ''}`, dataset: { permit: p.id, status: p.status }, onclick: () => navigate('permits', { permit: p.id }) },
                  h('td', {}, p.permit_no, h('div', { class: 'muted' }, `v${p.version}`)),
                  h('td', {}, p.site_name),
                  h('td', {}, p.facility_name),
                  h('td', {}, pick(p.status_zh, p.status_en)),
                ),
              ),
            ),
          ),
        ),
      )
      .catch((error) => fill(listEl, errorBox(error)));

    if (params.capacity) {
      try {
        const figures = await get('figures/facilities');
        detail.append(
          h('h3', {}, t('facility_capacity')),
          h(
            'table',
            { class: 'list', id: 'capacity-table' },
            h('thead', {}, h('tr', {}, ['facility', 'capacity_m3', 'used_m3', 'held_m3', 'remaining_m3'].map((k) => h('th', {}, t(k))))),
            h(
              'tbody',
              {},
              figures.data.map((f) =>
                h('tr', {}, h('td', {}, f.name), h('td', {}, f.capacity_m3.toLocaleString()), h('td', {}, f.used_m3.toLocaleString()), h('td', {}, f.held_by_permits_m3.toLocaleString()), h('td', {}, f.unallocated_m3.toLocaleString())),
              ),
            ),
          ),
        );
      } catch (error) {
        detail.append(errorBox(error));
      }
      return null;
    }

    if (!params.new && !params.permit) {
      detail.append(h('p', { class: 'empty' }, t('select_permit')));
      return null;
    }

    const mapEl = h('div', { class: 'map', id: 'permit-map', style: { minHeight: '420px', height: '50vh' } });
    detail.append(mapEl); // in the page before Leaflet measures it; the forms go before it
    const { map, renderer } = createMap(mapEl);
    const proposalLayer = L.featureGroup().addTo(map);
    const checkLayer = L.featureGroup().addTo(map);
    const checkEl = h('div', { id: 'route-check' });
    let checkedRoute = null; // the snapped route of the last acceptable check
    const editor = routeEditor(map, renderer, () => {
      checkedRoute = null;
      clear(checkEl);
      checkLayer.clearLayers();
    });

    async function propose(siteId, facilityId, excluded) {
      proposalLayer.clearLayers();
      const answer = await post('permits/route-proposals', { site_id: siteId, facility_id: facilityId, excluded_road_classes: excluded, alternatives: 2 });
      const chooser = h('div', { class: 'proposals', id: 'route-proposals' });
      answer.features.forEach((feature, i) => {
        const coords = lineOf(feature);
        const km = ((feature.properties.length_m || 0) / 1000).toFixed(1);
        const min = Math.round((feature.properties.travel_time_s || 0) / 60);
        L.polyline(coords.map(([x, y]) => [y, x]), { renderer, color: ALT_COLOURS[i % 4], weight: i ? 3 : 5, opacity: 0.8 }).addTo(proposalLayer);
        chooser.append(
          h(
            'button',
            {
              type: 'button',
              class: 'proposal',
              dataset: { rank: i + 1 },
              onclick: () => {
                editor.set(coords);
                checkedRoute = null;
                clear(checkEl);
              },
            },
            `${t('route')} ${i + 1}: ${km} km · ${min} min`,
          ),
        );
      });
      for (const zone of answer.problems || []) chooser.append(h('p', { class: 'refused' }, pick(zone.zh, zone.en)));
      if (proposalLayer.getLayers().length) map.fitBounds(proposalLayer.getBounds(), { padding: [30, 30] });
      return chooser;
    }

    async function check(excluded) {
      clear(checkEl);
      checkLayer.clearLayers();
      const coords = editor.get();
      if (coords.length < 2) {
        checkEl.append(h('p', { class: 'refused' }, t('route_needed')));
        return;
      }
      try {
        const answer = await post('permits/route-check', { route: { type: 'LineString', coordinates: coords }, excluded_road_classes: excluded });
        if (answer.route) {
          L.geoJSON(answer.route, { renderer, style: { color: answer.acceptable ? '#2f9e44' : '#e03131', weight: 5, opacity: 0.7 } }).addTo(checkLayer);
        }
        checkedRoute = answer.acceptable ? answer.route.geometry : null;
        checkEl.append(
          h('p', { class: answer.acceptable ? 'ok' : 'refused', id: answer.acceptable ? 'route-ok' : 'route-refused' }, t(answer.acceptable ? 'route_acceptable' : 'route_not_acceptable')),
          answer.problems.length ? h('ul', {}, answer.problems.map((p) => h('li', { dataset: { field: p.field } }, pick(p.zh, p.en)))) : null,
          answer.zones.length ? h('p', {}, t('zones_entered'), ': ', answer.zones.map((z) => `${z.name}（${z.kind_zh}）`).join('、')) : null,
        );
      } catch (error) {
        checkEl.append(errorBox(error));
      }
    }

    if (params.new) {
      const [sites, facilities, enums] = await Promise.all([get('sites', { limit: 500 }), get('facilities', { limit: 500 }), get('registry/enums')]);
      const cats = enums.WasteCategory || {};
      const site = h('select', { name: 'site_id', id: 'app-site' }, sites.data.map((s) => h('option', { value: s.id }, s.name)));
      const facility = h('select', { name: 'facility_id', id: 'app-facility' }, facilities.data.map((f) => h('option', { value: f.id }, f.name)));
      const categories = h(
        'fieldset',
        { class: 'checks', id: 'app-categories' },
        h('legend', {}, t('categories')),
        Object.entries(cats).map(([value, label]) => h('label', {}, h('input', { type: 'checkbox', name: 'categories', value }), pick(label.zh, label.en))),
        h('input', { type: 'hidden', name: 'categories' }),
      );
      const today = new Date().toISOString().slice(0, 10);
      const excluded = h('input', { name: 'excluded_road_classes', id: 'app-excluded', placeholder: 'residential, service' });
      const form = h(
        'form',
        { class: 'card form', id: 'application-form' },
        h('h3', {}, t('new_application')),
        field('site', site),
        field('facility', facility),
        categories,
        field('volume_m3', h('input', { name: 'volume_m3', id: 'app-volume', type: 'number', min: 0, step: '1' })),
        field('valid_from', h('input', { name: 'valid_from', id: 'app-from', type: 'date', value: today })),
        field('valid_to', h('input', { name: 'valid_to', id: 'app-to', type: 'date', value: today })),
        field('hours_start', h('input', { name: 'allowed_hours_start', value: '07:00', maxlength: 5 })),
        field('hours_end', h('input', { name: 'allowed_hours_end', value: '22:00', maxlength: 5 })),
        field('vehicles_plates', h('input', { name: 'vehicles', id: 'app-vehicles', placeholder: '粤A12345, 粤B23456' })),
        field('excluded_classes', excluded),
        h('input', { type: 'hidden', name: 'routes' }),
        h('div', { class: 'form-errors' }),
        h('button', { type: 'submit', class: 'primary', id: 'app-submit' }, t('submit_application')),
      );
      const excludedList = () => excluded.value.split(/[,，\s]+/).filter(Boolean);
      const proposeBtn = h('button', { type: 'button', id: 'route-propose' }, t('propose_routes'));
      const checkBtn = h('button', { type: 'button', id: 'route-check-btn', onclick: () => check(excludedList()) }, t('check_route'));
      const proposalsBox = h('div', {});
      proposeBtn.addEventListener('click', async () => {
        try {
          fill(proposalsBox, await propose(Number(site.value), Number(facility.value), excludedList()));
        } catch (error) {
          fill(proposalsBox, errorBox(error));
        }
      });
      form.addEventListener('submit', async (event) => {
        event.preventDefault();
        const errors = form.querySelector('.form-errors');
        clear(errors);
        const data = new FormData(form);
        const body = {
          site_id: Number(site.value),
          facility_id: Number(facility.value),
          categories: data.getAll('categories').filter(Boolean),
          volume_m3: data.get('volume_m3') === '' ? null : Number(data.get('volume_m3')),
          valid_from: data.get('valid_from'),
          valid_to: data.get('valid_to'),
          allowed_hours_start: data.get('allowed_hours_start'),
          allowed_hours_end: data.get('allowed_hours_end'),
          vehicles: String(data.get('vehicles') || '').split(/[,，\s]+/).filter(Boolean),
          routes: checkedRoute || (editor.get().length >= 2 ? { type: 'LineString', coordinates: editor.get() } : null),
        };
        try {
          const permit = await post('permits', body);
          navigate('permits', { permit: permit.id });
        } catch (error) {
          showFieldErrors(form, error);
          errors.append(errorBox(error));
        }
      });
      mapEl.before(form, h('div', { class: 'toolbar' }, proposeBtn, checkBtn), proposalsBox);
      mapEl.after(checkEl);
      map.invalidateSize();
      return () => map.remove();
    }

    let permit;
    try {
      permit = await get(`permits/${Number(params.permit)}`);
    } catch (error) {
      mapEl.before(errorBox(error));
      return () => map.remove();
    }
    const route = lineOf(permit.routes);
    if (route) editor.set(route);
    const decisionBox = h('div', { id: 'permit-decision' });
    const reasonInput = h('input', { name: 'reason', id: 'decision-reason', maxlength: 2000 });
    const decide = (action) => async () => {
      clear(decisionBox);
      const form = decisionBox.closest('form') || decisionBox;
      try {
        await post(`permits/${permit.id}/${action}`, { reason: reasonInput.value || t(`decision_${action}`) });
        navigate('permits', { permit: permit.id, done: Date.now() });
      } catch (error) {
        if (form.tagName === 'FORM') showFieldErrors(form, error);
        decisionBox.append(errorBox(error));
      }
    };
    const actions = h('form', { class: 'card form', id: 'permit-actions', onsubmit: (e) => e.preventDefault() }, field('reason', reasonInput));
    if (permit.status === 'submitted') {
      actions.append(
        h(
          'div',
          { class: 'toolbar' },
          h('button', { type: 'button', class: 'primary', id: 'permit-approve', onclick: decide('approve') }, t('approve')),
          h('button', { type: 'button', class: 'danger', id: 'permit-reject', onclick: decide('reject') }, t('reject')),
        ),
      );
    }
    if (permit.status === 'approved') {
      const volume = h('input', { name: 'volume_m3', id: 'amend-volume', type: 'number', min: 0, step: '1', value: permit.volume_m3 });
      actions.append(
        field('volume_m3', volume),
        h('p', { class: 'muted' }, t('amend_hint')),
        h(
          'div',
          { class: 'toolbar' },
          h('button', { type: 'button', id: 'route-check-btn', onclick: () => check([]) }, t('check_route')),
          h(
            'button',
            {
              type: 'button',
              class: 'primary',
              id: 'permit-amend',
              onclick: async () => {
                clear(decisionBox);
                const body = { reason: reasonInput.value, volume_m3: Number(volume.value) };
                if (checkedRoute) body.routes = checkedRoute;
                try {
                  const next = await post(`permits/${permit.id}/amend`, body);
                  navigate('permits', { permit: next.id });
                } catch (error) {
                  showFieldErrors(actions, error);
                  decisionBox.append(errorBox(error));
                }
              },
            },
            t('amend'),
          ),
        ),
      );
    }
    actions.append(decisionBox);
    mapEl.before(
      h(
        'div',
        { class: 'card', id: 'permit-info', dataset: { status: permit.status } },
        h('h3', {}, `${permit.permit_no} v${permit.version} `, h('span', { class: 'muted', id: 'permit-status' }, pick(permit.status_zh, permit.status_en))),
        h(
          'dl',
          {},
          [
            ['site', permit.site_name],
            ['facility', permit.facility_name],
            ['volume_m3', `${permit.used_m3} / ${permit.volume_m3}`],
            ['valid_from', `${permit.valid_from} – ${permit.valid_to}`],
            ['hours_start', `${permit.allowed_hours_start} – ${permit.allowed_hours_end}`],
            ['vehicles_plates', permit.vehicles.join('、')],
            ['decided_at', permit.decided_at ? fmtTime(permit.decided_at) : '—'],
          ].map(([k, v]) => [h('dt', {}, t(k)), h('dd', {}, v)]),
        ),
      ),
      actions,
    );
    mapEl.after(checkEl);
    map.invalidateSize();
    if (route) map.fitBounds(L.polyline(route.map(([x, y]) => [y, x])).getBounds(), { padding: [30, 30] });
    return () => map.remove();
  },
};
