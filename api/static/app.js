// citytwin web map: vector tiles for every layer, raster overlays, popups, attribution.
"use strict";
(async function () {
  const { colorOf, styleFor, checkbox, popupHtml } = window.citytwinStyle;
  const ON_BY_DEFAULT = new Set(["roads", "signals", "fire_stations", "schools"]);
  const status = document.getElementById("status");
  const HELD_POLL_MS = 5000;
  const base = new URL(".", window.location.href).href.replace(/\/$/, "");
  const [layerRes, rasterRes] = await Promise.all([
    fetch(base + "/layers"), fetch(base + "/rasters"),
  ]);
  const layers = (await layerRes.json()).layers.filter((l) => l.bounds);
  const rasters = (await rasterRes.json()).rasters;
  const roads = layers.find((l) => l.name === "roads") || layers[0];
  const b = roads.bounds;
  // one credit per source, however many layers share it (ODbL for the OSM-derived layers)
  const attribution = [...new Set([...layers, ...rasters]
    .flatMap((l) => (l.attribution || "").split(/\s+[|+]\s+|,\s*derived from\s+/))
    .map((a) => a.trim()).filter(Boolean))]
    .join(" | ");

  const map = new maplibregl.Map({
    container: "map",
    style: { version: 8, sources: {}, layers: [
      { id: "background", type: "background", paint: { "background-color": "#f4f3ef" } },
    ] },
    bounds: [[b[0], b[1]], [b[2], b[3]]],
    fitBoundsOptions: { padding: 20 },
    attributionControl: false,
  });
  map.addControl(new maplibregl.AttributionControl({ compact: false, customAttribution: attribution }));
  map.addControl(new maplibregl.NavigationControl(), "top-right");
  map.addControl(new maplibregl.ScaleControl(), "bottom-right");
  window.citytwinMap = map;

  map.on("load", () => {
    for (const r of rasters) {
      map.addSource("raster-" + r.name, { type: "raster", tileSize: 256,
        tiles: [base + "/tiles/" + r.name + "/{z}/{x}/{y}.png"], bounds: r.bounds });
      map.addLayer({ id: "raster-" + r.name, type: "raster", source: "raster-" + r.name,
        layout: { visibility: "none" }, paint: { "raster-opacity": 0.7 } });
      checkbox(document.getElementById("rasters"), r.name, r.description + " (" + r.unit + ")",
        "linear-gradient(90deg,#440154,#21918c,#fde725)", false, (on) =>
          map.setLayoutProperty("raster-" + r.name, "visibility", on ? "visible" : "none"));
    }
    const order = ["bike_grid", "homes", "roads", "nodes", "pois", "stations", "signals",
      "schools", "ambulance_stations", "fire_stations"];
    const sorted = [...layers].sort((a, c) => (order.indexOf(a.name) + 99) % 99 - (order.indexOf(c.name) + 99) % 99);
    for (const layer of sorted) {
      map.addSource(layer.name, { type: "vector", tiles: [base + "/tiles/" + layer.name + "/{z}/{x}/{y}.mvt"],
        minzoom: layer.minzoom, maxzoom: Math.min(layer.maxzoom, 16), bounds: layer.bounds });
      const style = styleFor(layer.name, layer.name, layer.geometry_type);
      style.layout = { visibility: ON_BY_DEFAULT.has(layer.name) ? "visible" : "none" };
      map.addLayer(style);
      checkbox(document.getElementById("layers"), layer.name, layer.title,
        colorOf(layer.name), ON_BY_DEFAULT.has(layer.name), (on) =>
          map.setLayoutProperty(layer.name, "visibility", on ? "visible" : "none"));
      map.on("click", layer.name, (e) => {
        new maplibregl.Popup().setLngLat(e.lngLat)
          .setHTML(popupHtml(layer.title, e.features[0].properties)).addTo(map);
      });
      map.on("mouseenter", layer.name, () => { map.getCanvas().style.cursor = "pointer"; });
      map.on("mouseleave", layer.name, () => { map.getCanvas().style.cursor = ""; });
    }
    status.textContent = layers.length + " layers · " + rasters.length + " rasters";
    heldSignals(map, base);
  });
  map.on("idle", () => { document.body.dataset.mapIdle = "1"; });

  // Signals held green for emergency runs (GET /routes/emergency), polled every few seconds.
  function heldSignals(map, base) {
    const empty = { type: "FeatureCollection", features: [] };
    map.addSource("held-signals", { type: "geojson", data: empty });
    map.addLayer({ id: "held-signals", type: "circle", source: "held-signals", paint: {
      "circle-radius": ["+", 6, ["*", 2, ["get", "runs"]]], "circle-color": "#16a34a",
      "circle-stroke-color": "#ffffff", "circle-stroke-width": 2 } });
    const count = document.getElementById("held-count");
    checkbox(document.getElementById("emergency"), "held-signals", "绿波信号 Held signals",
      "#16a34a", true, (on) =>
        map.setLayoutProperty("held-signals", "visibility", on ? "visible" : "none"));
    map.on("click", "held-signals", (e) => {
      new maplibregl.Popup().setLngLat(e.lngLat)
        .setHTML(popupHtml("绿波 Held signal", e.features[0].properties)).addTo(map);
    });
    async function poll() {
      try {
        const res = await fetch(base + "/routes/emergency");
        if (!res.ok) return;
        const held = await res.json();
        map.getSource("held-signals").setData({ type: "FeatureCollection",
          features: held.signals.map((s) => ({ type: "Feature",
            geometry: { type: "Point", coordinates: [s.lon, s.lat] },
            properties: { junction: s.id, phase: s.phase, start: s.start, end: s.end,
              runs: s.runs, incidents: s.incidents } })) });
        count.textContent = held.signals.length + " held · " + held.runs + " runs";
      } catch (err) {
        console.warn("held signals:", err);
      }
    }
    poll();
    setInterval(poll, HELD_POLL_MS);
  }
})().catch((err) => {
  document.getElementById("status").textContent = "error: " + err;
  console.error(err);
});
