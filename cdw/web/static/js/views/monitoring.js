// Monitoring: every truck on the map coloured by state, a click for plate, haulier, permit and
// manifest, the alert list, a search by plate. Positions come from GET /vehicles/live (the
// live channel) and, until it exists, from GET /console/positions for the latest analysed day;
// alerts from GET /flags; new positions and flags from GET /stream (SSE read with fetch()).

import { API, ApiError, errorBox, get, getToken, isMissingRoute } from '../api.js';
import { fill, h, hashFor } from '../dom.js';
import { fmtTime, pick, t } from '../i18n.js';
import { consoleSettings, createMap, L, STATE_COLOURS, stateMarker } from '../map.js';

const FLAG_READERS = ['admin', 'permit_officer', 'enforcement_officer', 'haulier'];
const STATES = ['loaded', 'empty', 'stopped', 'offline', 'flagged'];

function legend() {
  const control = L.control({ position: 'bottomright' });
  control.onAdd = () =>
    h(
      'div',
      { class: 'map-legend', id: 'state-legend' },
      STATES.map((s) => h('div', {}, h('span', { class: 'dot', style: { background: STATE_COLOURS[s] } }), t(`state_${s}`))),
    );
  return control;
}

function dayWindow(day) {
  // the local (Asia/Shanghai) day as an ISO window for the replay link
  return { start: `${day}T00:00:00+08:00`, end: `${day}T23:59:59+08:00` };
}

function popupFor(v, day) {
  const replayDay = v.ts ? dayOfTs(v.ts) : day;
  return h(
    'div',
    { class: 'vehicle-popup', dataset: { plate: v.plate } },
    h('strong', { class: 'popup-plate' }, v.plate),
    ' ',
    h('span', { class: 'badge', style: { background: STATE_COLOURS[v.state], color: '#fff' } }, t(`state_${v.state}`)),
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, t('haulier')), h('dd', {}, v.haulier_name || (v.haulier_id ? `#${v.haulier_id}` : '—')),
      h('dt', {}, t('permit')), h('dd', {}, v.permit_no || '—'),
      h('dt', {}, t('manifest')), h('dd', {}, v.manifest_no || (v.manifest_id ? `#${v.manifest_id}` : '—')),
      h('dt', {}, t('speed')), h('dd', {}, v.speed_kmh == null ? '—' : `${Math.round(v.speed_kmh)} km/h`),
      h('dt', {}, t('load_state')), h('dd', {}, t(`load_${v.load_state_source || 'reported'}`)),
      h('dt', {}, t('last_fix')), h('dd', {}, fmtTime(v.ts)),
      h('dt', {}, t('open_flags')), h('dd', {}, String(v.open_flags ?? 0)),
    ),
    h('a', { href: hashFor('replay', { plate: v.plate, ...dayWindow(replayDay) }), class: 'replay-link' }, t('open_replay')),
  );
}

function dayOfTs(iso) {
  // local date (UTC+8) of an instant
  const d = new Date(new Date(iso).getTime() + 8 * 3600 * 1000);
  return d.toISOString().slice(0, 10);
}

export default {
  id: 'monitoring',
  title: 'view_monitoring',
  roles: ['admin', 'permit_officer', 'enforcement_officer', 'haulier'],
  async render(main, { user }) {
    const list = h('div', { class: 'alert-list', id: 'alert-list' });
    const status = h('div', { class: 'status-line', id: 'monitor-source' }, t('loading'));
    const search = h('input', { type: 'search', id: 'plate-search', placeholder: t('search_plate'), 'aria-label': t('search_plate') });
    const searchForm = h('form', { class: 'toolbar', id: 'plate-search-form' }, search, h('button', { type: 'submit' }, t('search')));
    const counts = h('div', { class: 'status-line', id: 'state-counts' });
    const side = h('aside', { class: 'side' }, searchForm, status, counts, h('h3', { class: 'item' }, t('alerts')), list);
    const mapEl = h('div', { class: 'cdw-map', id: 'monitor-map' });
    main.append(h('div', { class: 'split' }, side, h('div', { class: 'main-map' }, mapEl)));

    const { map, renderer, ready } = createMap(mapEl);
    legend().addTo(map);
    const markers = new Map(); // plate -> {marker, data}
    const vehicleLayer = L.layerGroup().addTo(map);
    const controller = new AbortController();
    let day = null;
    let haulierNames = new Map();

    function place(v) {
      let entry = markers.get(v.plate);
      if (!entry) {
        const marker = stateMarker([v.lat, v.lon], v.state, renderer, 8);
        marker.bindTooltip(v.plate, { direction: 'top', offset: [0, -6] });
        marker.on('click', () => openPopup(entry));
        entry = { marker, data: v };
        markers.set(v.plate, entry);
        marker.addTo(vehicleLayer);
      }
      entry.data = { ...entry.data, ...v };
      entry.marker.setLatLng([v.lat, v.lon]);
      entry.marker.setStyle({ fillColor: STATE_COLOURS[entry.data.state] || STATE_COLOURS.offline });
    }

    async function openPopup(entry) {
      const data = entry.data;
      if (!data.haulier_name && data.haulier_id) data.haulier_name = haulierNames.get(data.haulier_id);
      entry.marker.bindPopup(popupFor(data, day), { maxWidth: 320 }).openPopup();
      if (data.manifest_id && !data.manifest_no) {
        // the live channel names the manifest by id: its number and permit from the API
        try {
          const manifest = await get(`manifests/${data.manifest_id}`, {}, { signal: controller.signal });
          Object.assign(data, { manifest_no: manifest.manifest_no, permit_no: data.permit_no || manifest.permit_no });
          entry.marker.setPopupContent(popupFor(data, day));
        } catch {
          /* the popup keeps the id */
        }
      }
    }

    function showCounts() {
      const byState = Object.fromEntries(STATES.map((s) => [s, 0]));
      for (const { data } of markers.values()) byState[data.state] = (byState[data.state] || 0) + 1;
      fill(counts, 
        `${t('vehicles')} ${markers.size}: `,
        STATES.filter((s) => byState[s]).map((s) => h('span', { class: 'state-count', dataset: { state: s } }, h('span', { class: 'dot', style: { background: STATE_COLOURS[s] } }), `${t(`state_${s}`)} ${byState[s]} `)),
      );
    }

    function alertItem(f) {
      return h(
        'div',
        {
          class: 'item alert',
          dataset: { flag: f.id, plate: f.vehicle },
          onclick: () => {
            map.setView([f.lat, f.lon], Math.max(map.getZoom(), 15));
            const entry = markers.get(f.vehicle);
            if (entry) entry.marker.fire('click');
          },
        },
        h('div', {}, h('span', { class: `sev ${f.severity >= 80 ? 'high' : f.severity >= 50 ? 'mid' : ''}` }, f.severity), ' ', h('strong', {}, f.vehicle), ' ', pick(f.label_zh, f.label_en)),
        h('div', { class: 'meta' }, fmtTime(f.start), ' · ', pick(f.explanation_zh, f.explanation_en)),
        h(
          'div',
          { class: 'meta' },
          h('a', { href: hashFor('replay', { plate: f.vehicle, ...windowAround(f), flag: f.id }), onclick: (e) => e.stopPropagation() }, t('open_replay')),
          user.role === 'admin' || user.role === 'enforcement_officer'
            ? [' · ', h('a', { href: hashFor('review', { flag: f.id, status: f.status }), onclick: (e) => e.stopPropagation() }, t('open_evidence'))]
            : null,
        ),
      );
    }

    // positions: the live channel, else the latest analysed day's last fixes; the alerts: every
    // open flag, highest score first. All requested at once (the settings were fetched at log-in).
    const settings = (await ready) || (await consoleSettings().catch(() => ({})));
    day = settings?.latest_day || null;
    const liveP = get('vehicles/live', {}, { signal: controller.signal }).then(
      (positions) => positions,
      (error) => {
        // no live channel: 404, or 422 from /vehicles/{id} taking "live" for an id
        if (isMissingRoute(error) || (error instanceof ApiError && error.status === 422)) return [];
        throw error;
      },
    );
    const fallbackP = day ? get('console/positions', { day }, { signal: controller.signal }).catch((error) => error) : Promise.resolve([]);
    const flagsP = FLAG_READERS.includes(user.role)
      ? get('flags', { status: 'open', limit: 100 }, { signal: controller.signal }).catch((error) => error)
      : Promise.resolve(null);
    get('hauliers', { limit: 500 }, { signal: controller.signal })
      .then((page) => (haulierNames = new Map(page.data.map((x) => [x.id, x.name]))))
      .catch(() => {});
    const live = await liveP;
    // an empty live table (no gateway feeding it yet): the latest analysed day instead
    const source = live.length ? 'live' : 'fallback';
    let positions = live;
    if (source === 'fallback') {
      positions = await fallbackP;
      if (positions instanceof Error) throw positions;
    }
    fill(status, source === 'live' ? t('source_live') : day ? t('source_fallback', { day }) : t('no_positions'));
    status.dataset.source = source;
    for (const v of positions) place(v);
    showCounts();
    if (markers.size) {
      const bounds = L.latLngBounds(positions.map((v) => [v.lat, v.lon]));
      map.fitBounds(bounds, { padding: [40, 40], maxZoom: 14, animate: false });
    }

    // alerts
    const flags = await flagsP;
    if (flags instanceof Error) {
      if (flags.name !== 'AbortError') list.append(errorBox(flags));
    } else if (flags) {
      fill(list, flags.data.length ? flags.data.map(alertItem) : h('p', { class: 'empty' }, t('queue_empty')));
    }
    performance.mark('cdw:monitoring-drawn'); // read by benchmarks/bench_console.py

    searchForm.addEventListener('submit', (event) => {
      event.preventDefault();
      const wanted = search.value.trim().toUpperCase();
      for (const old of searchForm.querySelectorAll('.error-box')) old.remove();
      const hit = [...markers.keys()].find((plate) => plate.toUpperCase().includes(wanted));
      if (!wanted) return;
      if (!hit) {
        searchForm.append(h('div', { class: 'error-box', role: 'alert' }, t('plate_not_found')));
        return;
      }
      const { marker } = markers.get(hit);
      map.setView(marker.getLatLng(), Math.max(map.getZoom(), 15));
      marker.fire('click');
    });

    // the push channel, when the API has one
    streamEvents(controller.signal, {
      position: (v) => {
        place(v);
        showCounts();
      },
      flag: (f) => {
        list.querySelector('.empty')?.remove();
        list.prepend(alertItem(f));
      },
    }).then((connected) => {
      status.append(h('span', { id: 'stream-state', dataset: { connected: connected ? 'yes' : 'no' } }, ` · ${connected ? t('stream_on') : t('stream_off')}`));
    });

    return () => {
      controller.abort();
      map.remove();
    };
  },
};

function windowAround(f) {
  const start = new Date(new Date(f.start).getTime() - 30 * 60 * 1000);
  const end = new Date(new Date(f.end).getTime() + 30 * 60 * 1000);
  return { start: start.toISOString(), end: end.toISOString() };
}

/**
 * Reads GET /stream (Server-Sent Events) with fetch() so the bearer header goes along. Resolves
 * true once connected (then keeps reading until ``signal`` aborts), false when there is no stream.
 */
export function streamEvents(signal, handlers) {
  let lastId = null;
  let resolved = false;
  return new Promise((resolve) => {
    const settle = (value) => {
      if (!resolved) {
        resolved = true;
        resolve(value);
      }
    };
    (async () => {
      while (!signal.aborted) {
        let response;
        try {
          const headers = { Authorization: `Bearer ${getToken()}`, Accept: 'text/event-stream' };
          if (lastId !== null) headers['Last-Event-ID'] = lastId;
          response = await fetch(`${API}/stream`, { headers, signal });
        } catch {
          return settle(false);
        }
        if (!response.ok || !response.body) return settle(false);
        settle(true);
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        try {
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buffer += value;
            let cut;
            while ((cut = buffer.search(/\r?\n\r?\n/)) >= 0) {
              const block = buffer.slice(0, cut);
              buffer = buffer.slice(cut).replace(/^\r?\n\r?\n/, '');
              let event = 'message';
              const data = [];
              for (const line of block.split(/\r?\n/)) {
                if (line.startsWith('event:')) event = line.slice(6).trim();
                else if (line.startsWith('id:')) lastId = line.slice(3).trim();
                else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
              }
              if (!data.length || !handlers[event]) continue;
              try {
                handlers[event](JSON.parse(data.join('\n')));
              } catch {
                /* a malformed event is skipped */
              }
            }
          }
        } catch {
          if (signal.aborted) return;
        }
        // the server ends a stream after a while: reconnect, resuming after the last event
        await new Promise((r) => setTimeout(r, 2000));
      }
    })();
  });
}
