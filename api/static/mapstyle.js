// citytwin map style, shared by the web map (app.js) and the archive viewer (archive.js):
// layer colours, a MapLibre style per geometry, the layer switcher's checkboxes, popups.
"use strict";
window.citytwinStyle = (function () {
  const COLORS = {
    roads: "#5a5a6e", signals: "#e62828", pois: "#c8a000", stations: "#005ac8",
    homes: "#9664c8", schools: "#28aa50", fire_stations: "#ff7800",
    ambulance_stations: "#00a0ff", bike_grid: "#1b9e77", nodes: "#888888",
  };
  const colorOf = (id) => COLORS[id] || "#444444";
  const escapeHtml = (v) => String(v).replace(/&/g, "&amp;").replace(/</g, "&lt;")
    .replace(/>/g, "&gt;").replace(/"/g, "&quot;");

  // a MapLibre layer drawing the vector-tile layer `id` of `source` by its geometry type
  function styleFor(id, source, geometry) {
    const color = colorOf(id);
    const common = { id, source, "source-layer": id };
    if (/LineString/.test(geometry)) {
      return { ...common, type: "line", paint: { "line-color": color,
        "line-width": ["interpolate", ["linear"], ["zoom"], 12, 1, 17, 5] } };
    }
    if (/Polygon/.test(geometry)) {
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

  // the popup of a clicked feature: its title and up to 14 of its properties
  function popupHtml(title, properties) {
    const rows = Object.entries(properties).slice(0, 14)
      .map(([k, v]) => "<tr><td>" + escapeHtml(k) + "</td><td>" + escapeHtml(v) + "</td></tr>")
      .join("");
    return "<b>" + escapeHtml(title) + "</b><table>" + rows + "</table>";
  }

  return { colorOf, styleFor, checkbox, popupHtml };
})();
