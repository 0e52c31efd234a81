// Leaflet map factory: canvas renderer, the configured tile layer when there is one, else a
// plain background with cdw's own road network (GET /api/v1/map/roads by bbox and zoom) and the
// geofences (GET /api/v1/map/geofences). Both layers are skipped quietly while the API has no
// such route. Leaflet (vendor/leaflet, BSD-2) is loaded by index.html as the global L.

import { get, isMissingRoute } from './api.js';
import { pick } from './i18n.js';

const L = window.L;

// Leaflet 1.9.4 can still redraw a canvas renderer whose map was removed (a view-reset reaching it
// during a zoom animation: "Cannot read properties of undefined (reading 'save')", seen once in the
// role test); a renderer without its drawing context has nothing to draw.
const redrawCanvas = L.Canvas.prototype._redraw;
L.Canvas.include({
  _redraw() {
    if (this._ctx) redrawCanvas.call(this);
    else this._redrawRequest = null;
  },
});

let settingsPromise = null;
/** The console settings (tile URL, map centre, latest analysed day), fetched once. */
export function consoleSettings() {
  if (!settingsPromise) {
    settingsPromise = get('console/settings').catch((error) => {
      settingsPromise = null;
      throw error;
    });
  }
  return settingsPromise;
}

export function resetSettings() {
  settingsPromise = null;
}

export const STATE_COLOURS = {
  loaded: '#d9480f',
  empty: '#1c7ed6',
  stopped: '#868e96',
  offline: '#343a40',
  flagged: '#e03131',
};

// Muted roads, so that trucks, flags and tracks stand out on top of them.
const ROAD_STYLE = {
  motorway: { color: '#e9b872', weight: 3 },
  trunk: { color: '#efc98f', weight: 2.6 },
  primary: { color: '#f1d9a8', weight: 2.2 },
  secondary: { color: '#cfd2d6', weight: 1.8 },
  tertiary: { color: '#d8dadd', weight: 1.5 },
};
const ROAD_DEFAULT = { color: '#e1e3e6', weight: 1 };

const FENCE_STYLE = {
  site: { color: '#2f9e44', fillOpacity: 0.12 },
  facility: { color: '#1971c2', fillOpacity: 0.12 },
  depot: { color: '#7048e8', fillOpacity: 0.1 },
  zone: { color: '#e03131', fillOpacity: 0.08, dashArray: '4 4' },
};

function roadStyle(feature) {
  const cls = String(feature.properties?.highway || feature.properties?.class || '').replace('_link', '');
  return { ...(ROAD_STYLE[cls] || ROAD_DEFAULT), opacity: 0.85, interactive: false };
}

/**
 * A map in ``element``. Options: ``roads`` (default true), ``fences`` (default true).
 * Returns {map, renderer, ready} where ready resolves once the settings are applied.
 */
export function createMap(element, { roads = true, fences = true } = {}) {
  const renderer = L.canvas({ padding: 0.3 });
  const map = L.map(element, { preferCanvas: true, renderer, zoomControl: true, attributionControl: true });
  map.attributionControl.setPrefix(false);
  element.classList.add('cdw-map');
  map.setView([22.937, 113.384], 12);
  let removed = false; // the view may be left before the settings arrive
  map.on('unload', () => {
    removed = true;
  });
  const ready = consoleSettings()
    .then((settings) => {
      if (removed) return null;
      map.setView([settings.center_lat, settings.center_lon], settings.zoom, { animate: false });
      if (settings.tile_url) {
        L.tileLayer(settings.tile_url, {
          maxZoom: settings.tile_max_zoom,
          attribution: settings.tile_attribution,
        }).addTo(map);
      } else {
        element.classList.add('no-tiles');
      }
      if (roads) roadLayer(map, renderer);
      if (fences) fenceLayer(map, renderer);
      return settings;
    })
    .catch(() => null);
  return { map, renderer, ready };
}

/** The road network of the visible box, refetched (debounced) after each move. */
export function roadLayer(map, renderer) {
  const layer = L.geoJSON(null, { style: roadStyle, renderer, interactive: false }).addTo(map);
  let timer = null;
  let controller = null;
  let missing = false;
  async function refresh() {
    if (missing) return;
    controller?.abort();
    controller = new AbortController();
    const b = map.getBounds();
    const bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(5)).join(',');
    try {
      const data = await get('map/roads', { bbox, zoom: map.getZoom() }, { signal: controller.signal });
      layer.clearLayers();
      layer.addData(data);
      layer.bringToBack();
    } catch (error) {
      if (isMissingRoute(error)) missing = true;
    }
  }
  map.on('moveend', () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, 150);
  });
  map.on('unload', () => {
    // the view left (map.remove()): no refresh may run on the removed map
    clearTimeout(timer);
    controller?.abort();
    missing = true;
  });
  refresh();
  return layer;
}

/** Sites, facilities, depots and restricted zones, fetched once. */
export function fenceLayer(map, renderer) {
  const layer = L.geoJSON(null, {
    renderer,
    style: (f) => ({ weight: 2, ...(FENCE_STYLE[f.properties?.kind] || FENCE_STYLE.zone) }),
    onEachFeature: (f, l) => {
      const p = f.properties || {};
      if (p.name) l.bindTooltip(`${p.name} · ${pick(p.kind_zh, p.kind_en) || p.kind || ''}`);
    },
  }).addTo(map);
  get('map/geofences')
    .then((data) => layer.addData(data))
    .catch(() => {});
  return layer;
}

/** A coloured dot for a vehicle state. */
export function stateMarker(latlng, state, renderer, radius = 7) {
  return L.circleMarker(latlng, {
    renderer,
    radius,
    color: '#1f2933',
    weight: 1.5,
    fillColor: STATE_COLOURS[state] || STATE_COLOURS.offline,
    fillOpacity: 0.95,
  });
}

/** Fits the map to a GeoJSON layer's bounds when it has any. */
export function fitTo(map, layer, padding = 30) {
  const bounds = layer.getBounds?.();
  if (bounds && bounds.isValid()) map.fitBounds(bounds, { padding: [padding, padding], maxZoom: 17, animate: false });
}

export { L };
