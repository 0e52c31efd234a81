// Track replay: a vehicle and a time window (GET /console/replay/{plate}: the track, its stops
// and signal gaps, its flags and the approved routes with their corridors); a time slider,
// play/pause and playback speed; speed and load state at the cursor.

import { errorBox, get } from '../api.js';
import { fill, h } from '../dom.js';
import { fmtTime, pick, t } from '../i18n.js';
import { consoleSettings, createMap, fitTo, L } from '../map.js';

const TZ_MS = 8 * 3600 * 1000; // the bureau's clock, Asia/Shanghai (no daylight saving)
const LOAD_COLOURS = { loaded: '#d9480f', empty: '#1c7ed6' };
const SPEEDS = [1, 10, 30, 60, 120, 300];

/** ISO instant -> value of an <input type=datetime-local> on the bureau's clock. */
function toLocalInput(iso) {
  return new Date(new Date(iso).getTime() + TZ_MS).toISOString().slice(0, 16);
}

function fromLocalInput(value) {
  return `${value}:00+08:00`;
}

export function loadOf(status) {
  return ((status >> 8) & 3) === 0 ? 'empty' : 'loaded';
}

export default {
  id: 'replay',
  title: 'view_replay',
  roles: ['admin', 'permit_officer', 'enforcement_officer', 'haulier'],
  async render(main, { params, navigate }) {
    const settings = await consoleSettings().catch(() => ({}));
    const day = settings.latest_day || new Date(Date.now() + TZ_MS).toISOString().slice(0, 10);
    const start = params.start || `${day}T00:00:00+08:00`;
    const end = params.end || `${day}T23:59:59+08:00`;

    const plateInput = h('input', { name: 'plate', id: 'replay-plate', value: params.plate || '', required: true, list: 'replay-plates', autocomplete: 'off' });
    const plates = h('datalist', { id: 'replay-plates' });
    const startInput = h('input', { name: 'start', id: 'replay-start', type: 'datetime-local', value: toLocalInput(start), required: true });
    const endInput = h('input', { name: 'end', id: 'replay-end', type: 'datetime-local', value: toLocalInput(end), required: true });
    const form = h(
      'form',
      { class: 'toolbar', id: 'replay-form' },
      h('label', {}, t('vehicle'), plateInput),
      plates,
      h('label', {}, t('window_start'), startInput),
      h('label', {}, t('window_end'), endInput),
      h('button', { type: 'submit', class: 'primary' }, t('load_track')),
    );
    // On a phone a loaded replay folds its form away (one tap opens it) to leave room for the map.
    const narrow = window.matchMedia('(max-width: 820px)').matches;
    const formBox = narrow
      ? h('details', { class: 'replay-form-box', open: !params.plate }, h('summary', { class: 'toolbar' }, `${params.plate || t('vehicle')} · ${toLocalInput(start).replace('T', ' ')} – ${toLocalInput(end).slice(11)}`), form)
      : form;
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      navigate('replay', { plate: plateInput.value.trim(), start: fromLocalInput(startInput.value), end: fromLocalInput(endInput.value) });
    });

    const messages = h('div', { id: 'replay-messages' });
    const slider = h('input', { type: 'range', id: 'replay-slider', min: 0, max: 0, value: 0, step: 1, 'aria-label': t('time') });
    const playButton = h('button', { type: 'button', id: 'replay-play', class: 'primary' }, t('play'));
    const speedSelect = h('select', { id: 'replay-speed', 'aria-label': t('playback_speed') }, SPEEDS.map((s) => h('option', { value: s, selected: s === 60 }, `${s}×`)));
    const readout = h('span', { class: 'replay-readout', id: 'replay-readout' });
    const controls = h('div', { class: 'replay-controls' }, playButton, speedSelect, slider, readout);
    const mapEl = h('div', { class: 'cdw-map', id: 'replay-map' });
    const side = h('aside', { class: 'side right', id: 'replay-side' });
    main.append(
      h(
        'div',
        { class: 'column' },
        formBox,
        messages,
        h('div', { class: 'grow' }, h('div', { class: 'split' }, side, h('div', { class: 'main-map' }, mapEl))),
        controls,
      ),
    );
    const { map, renderer } = createMap(mapEl);
    let timer = null;
    const cleanup = () => {
      cancelAnimationFrame(timer);
      map.remove();
    };

    get('vehicles', { limit: 500 })
      .then((page) => plates.append(...page.data.map((v) => h('option', { value: v.plate }))))
      .catch(() => {});

    if (!params.plate) {
      side.append(h('p', { class: 'empty' }, t('vehicle')));
      return cleanup;
    }
    let data;
    try {
      data = await get(`console/replay/${encodeURIComponent(params.plate)}`, { start, end });
    } catch (error) {
      messages.append(errorBox(error));
      return cleanup;
    }
    const feature = data.track.features[0];
    if (!feature) {
      messages.append(h('p', { class: 'empty', id: 'replay-empty' }, t('no_track')));
    }

    // approved routes and corridors, under everything else
    const routes = L.geoJSON(data.routes, {
      renderer,
      style: (f) =>
        f.properties.kind === 'corridor'
          ? { color: '#2f9e44', weight: 1, fillColor: '#69db7c', fillOpacity: 0.18, dashArray: '3 3' }
          : { color: '#2b8a3e', weight: 3, opacity: 0.85 },
      onEachFeature: (f, l) => l.bindTooltip(`${t(f.properties.kind === 'corridor' ? 'corridor' : 'approved_route')} ${f.properties.permit_no || ''}`),
    }).addTo(map);

    // the track, one polyline per run of the same load state
    let coords = [];
    let times = [];
    let speeds = [];
    let loads = [];
    const trackLayer = L.featureGroup().addTo(map);
    if (feature) {
      coords = feature.geometry.type === 'Point' ? [feature.geometry.coordinates] : feature.geometry.coordinates;
      times = feature.properties.times.map((x) => new Date(x).getTime());
      speeds = feature.properties.speed_kmh;
      loads = feature.properties.status.map((s) => loadOf(s || 0));
      let runStart = 0;
      for (let i = 1; i <= coords.length; i += 1) {
        if (i === coords.length || loads[i] !== loads[runStart]) {
          const piece = coords.slice(runStart, Math.min(i + 1, coords.length)).map(([x, y]) => [y, x]);
          L.polyline(piece, { renderer, color: LOAD_COLOURS[loads[runStart]], weight: 3.5, opacity: 0.9 }).addTo(trackLayer);
          runStart = i;
        }
      }
    }
    // stops and gaps
    const marks = L.featureGroup().addTo(map);
    for (const s of data.stops) {
      L.circleMarker([s.lat, s.lon], { renderer, radius: 6, color: '#495057', fillColor: '#ced4da', fillOpacity: 0.9, weight: 2 })
        .bindTooltip(`${t('stop_label', { min: (s.duration_s / 60).toFixed(0) })} · ${fmtTime(s.start, false)}–${fmtTime(s.end, false)}`)
        .addTo(marks);
    }
    for (const g of data.gaps) {
      L.polyline([[g.from_lat, g.from_lon], [g.to_lat, g.to_lon]], { renderer, color: '#e03131', weight: 2.5, dashArray: '6 6' })
        .bindTooltip(`${t('gap_label', { min: (g.duration_s / 60).toFixed(1) })} · ${(g.jump_m / 1000).toFixed(2)} km`)
        .addTo(marks);
    }
    // flags
    const flagLayer = L.featureGroup().addTo(map);
    const flagMarkers = new Map();
    for (const f of data.flags) {
      if (f.geometry && f.geometry.type && f.geometry.type !== 'Point') {
        L.geoJSON(f.geometry, { renderer, style: { color: '#c92a2a', weight: 5, opacity: 0.55 } }).addTo(flagLayer);
      }
      const marker = L.circleMarker([f.lat, f.lon], { renderer, radius: 9, color: '#fff', weight: 2, fillColor: '#e03131', fillOpacity: 1 })
        .bindPopup(h('div', { class: 'flag-popup' }, h('strong', {}, pick(f.label_zh, f.label_en)), h('p', {}, pick(f.explanation_zh, f.explanation_en))))
        .addTo(flagLayer);
      flagMarkers.set(String(f.id), marker);
    }

    // the cursor
    const cursor = L.circleMarker(coords.length ? [coords[0][1], coords[0][0]] : map.getCenter(), { renderer, radius: 8, color: '#000', weight: 2, fillColor: '#ffd43b', fillOpacity: 1 });
    if (coords.length) cursor.addTo(map);
    slider.max = Math.max(coords.length - 1, 0);

    function show(i) {
      if (!coords.length) return;
      const [x, y] = coords[i];
      cursor.setLatLng([y, x]);
      slider.value = i;
      const sp = speeds[i];
      readout.textContent = `${fmtTime(new Date(times[i]).toISOString())} · ${sp == null ? '—' : Math.round(sp)} km/h · ${t(`state_${loads[i]}`)}`;
      readout.dataset.index = i;
    }
    slider.addEventListener('input', () => show(Number(slider.value)));

    let playing = false;
    let clock = 0;
    let last = 0;
    function frame(now) {
      if (!playing) return;
      const step = last ? now - last : 0;
      last = now;
      clock += step * Number(speedSelect.value);
      let i = Number(slider.value);
      while (i < times.length - 1 && times[i + 1] <= clock) i += 1;
      show(i);
      if (i >= times.length - 1) return pause();
      timer = requestAnimationFrame(frame);
    }
    function play() {
      if (!coords.length) return;
      if (Number(slider.value) >= coords.length - 1) show(0);
      playing = true;
      last = 0;
      clock = times[Number(slider.value)];
      playButton.textContent = t('pause');
      playButton.dataset.playing = 'yes';
      timer = requestAnimationFrame(frame);
    }
    function pause() {
      playing = false;
      cancelAnimationFrame(timer);
      playButton.textContent = t('play');
      playButton.dataset.playing = 'no';
    }
    playButton.addEventListener('click', () => (playing ? pause() : play()));

    // side panel: flags, stops, gaps and the legend
    const seek = (iso) => {
      const at = new Date(iso).getTime();
      let i = times.findIndex((x) => x >= at);
      if (i < 0) i = times.length - 1;
      pause();
      show(Math.max(i, 0));
    };
    fill(side, 
      h('div', { class: 'status-line', id: 'replay-summary' }, `${data.plate} · ${data.haulier_name || ''} · ${t('points')} ${coords.length}`),
      h('h3', { class: 'item' }, `${t('flags_on_track')} (${data.flags.length})`),
      data.flags.map((f) =>
        h(
          'div',
          {
            class: `item replay-flag${String(f.id) === params.flag ? ' selected' : ''}`,
            dataset: { flag: f.id, code: f.code },
            onclick: () => {
              seek(f.start);
              map.setView([f.lat, f.lon], Math.max(map.getZoom(), 15), { animate: false });
              flagMarkers.get(String(f.id))?.openPopup();
            },
          },
          h('div', {}, h('span', { class: 'sev high' }, f.severity), ' ', pick(f.label_zh, f.label_en)),
          h('div', { class: 'meta' }, fmtTime(f.start), ' · ', pick(f.explanation_zh, f.explanation_en)),
        ),
      ),
      h('h3', { class: 'item' }, `${t('stops')} (${data.stops.length}) · ${t('gaps')} (${data.gaps.length})`),
      data.gaps.map((g) => h('div', { class: 'item replay-gap', onclick: () => seek(g.start) }, h('span', { class: 'badge' }, t('gaps')), ' ', fmtTime(g.start, false), ' · ', t('gap_label', { min: (g.duration_s / 60).toFixed(1) }))),
      data.stops.map((s) => h('div', { class: 'item replay-stop', onclick: () => seek(s.start) }, h('span', { class: 'badge' }, t('stops')), ' ', fmtTime(s.start, false), ' · ', t('stop_label', { min: (s.duration_s / 60).toFixed(0) }))),
      h(
        'div',
        { class: 'item map-legend' },
        h('div', {}, h('span', { class: 'dot', style: { background: LOAD_COLOURS.loaded } }), t('state_loaded')),
        h('div', {}, h('span', { class: 'dot', style: { background: LOAD_COLOURS.empty } }), t('state_empty')),
        h('div', {}, h('span', { class: 'dot', style: { background: '#ced4da', border: '2px solid #495057' } }), t('stops')),
        h('div', {}, h('span', { class: 'dot', style: { background: '#e03131' } }), t('alerts'), ' / ', t('gaps')),
        h('div', {}, h('span', { class: 'dot', style: { background: '#69db7c' } }), t('approved_route'), ' / ', t('corridor')),
      ),
    );

    // frame the track (and the selected flag)
    const all = L.featureGroup([trackLayer, routes, flagLayer]);
    fitTo(map, trackLayer.getLayers().length ? trackLayer : all);
    const selected = data.flags.find((f) => String(f.id) === params.flag);
    if (selected) {
      seek(selected.start);
      map.setView([selected.lat, selected.lon], 15, { animate: false });
    } else {
      show(0);
    }
    main.querySelector('#replay-map').dataset.ready = 'yes';
    return () => {
      pause();
      cleanup();
    };
  },
};
