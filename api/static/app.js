// citytwin web map: vector tiles for every layer, raster overlays, popups, attribution.
"use strict";
(async function () {
  const COLORS = {
    roads: "#5a5a6e", signals: "#e62828", pois: "#c8a000", stations: "#005ac8",
    homes: "#9664c8", schools: "#28aa50", fire_stations: "#ff7800",
    ambulance_stations: "#00a0ff", bike_grid: "#1b9e77", nodes: "#888888",
  };
  const ON_BY_DEFAULT = new Set(["roads", "signals", "fire_stations", "schools"]);
  const status = document.getElementById("status");
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
  const escapeHtml = (v) => String(v).replace(/&/g, "&amp;").replace(/</g, "&lt;")
    .replace(/>/g, "&gt;").replace(/"/g, "&quot;");

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

  function styleFor(layer) {
    const color = COLORS[layer.name] || "#444444";
    const id = layer.name;
    const common = { id, source: id, "source-layer": id };
    if (layer.geometry_type === "LineString") {
      return { ...common, type: "line", paint: { "line-color": color,
        "line-width": ["interpolate", ["linear"], ["zoom"], 12, 1, 17, 5] } };
    }
    if (layer.geometry_type === "Polygon") {
      return { ...common, type: "fill", paint: { "fill-color": color, "fill-opacity": 0.25,
        "fill-outline-color": color } };
    }
    return { ...common, type: "circle", paint: { "circle-color": color,
      "circle-radius": ["interpolate", ["linear"], ["zoom"], 12, 2, 17, 7],
      "circle-stroke-color": "#fff", "circle-stroke-width": 1 } };
  }

  function checkbox(form, name, title, color, checked, onChange) {
    const label = document.createElement("label");
    const input = document.createElement("input");
    input.type = "checkbox"; input.checked = checked; input.name = name;
    input.addEventListener("change", () => onChange(input.checked));
    const swatch = document.createElement("span");
    swatch.className = "swatch"; swatch.style.background = color;
    label.append(input, swatch, document.createTextNode(title));
    form.append(label);
  }

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
      const style = styleFor(layer);
      style.layout = { visibility: ON_BY_DEFAULT.has(layer.name) ? "visible" : "none" };
      map.addLayer(style);
      checkbox(document.getElementById("layers"), layer.name, layer.title,
        COLORS[layer.name] || "#444", ON_BY_DEFAULT.has(layer.name), (on) =>
          map.setLayoutProperty(layer.name, "visibility", on ? "visible" : "none"));
      map.on("click", layer.name, (e) => {
        const f = e.features[0];
        const rows = Object.entries(f.properties).slice(0, 14)
          .map(([k, v]) => "<tr><td>" + escapeHtml(k) + "</td><td>" + escapeHtml(v) + "</td></tr>").join("");
        new maplibregl.Popup().setLngLat(e.lngLat)
          .setHTML("<b>" + escapeHtml(layer.title) + "</b><table>" + rows + "</table>").addTo(map);
      });
      map.on("mouseenter", layer.name, () => { map.getCanvas().style.cursor = "pointer"; });
      map.on("mouseleave", layer.name, () => { map.getCanvas().style.cursor = ""; });
    }
    status.textContent = layers.length + " layers · " + rasters.length + " rasters";
  });
  map.on("idle", () => { document.body.dataset.mapIdle = "1"; });
})().catch((err) => {
  document.getElementById("status").textContent = "error: " + err;
  console.error(err);
});
