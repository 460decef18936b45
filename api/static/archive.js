// citytwin archive viewer: a PMTiles vector archive on a MapLibre map, with no server.
// The archive comes from a File input (pmtiles.FileSource) or from ?url= (HTTP ranges).
"use strict";
(function () {
  const { colorOf, styleFor, checkbox, popupHtml } = window.citytwinStyle;
  const ORDER = ["bike_grid", "bike_cells", "school_districts", "bike_fences", "homes", "roads",
    "nodes", "pois", "stations", "signals", "schools", "ambulance_stations", "fire_stations"];
  const status = document.getElementById("status");

  // pmtiles:// URLs are answered from the archives added to the protocol
  const protocol = new pmtiles.Protocol({ metadata: true });
  maplibregl.addProtocol("pmtiles", protocol.tile);

  const map = new maplibregl.Map({
    container: "map",
    style: { version: 8, sources: {}, layers: [
      { id: "background", type: "background", paint: { "background-color": "#f4f3ef" } },
    ] },
    center: [121.47, 31.23], zoom: 11,
  });
  map.addControl(new maplibregl.NavigationControl(), "top-right");
  map.addControl(new maplibregl.ScaleControl(), "bottom-right");
  window.citytwinMap = map;
  map.on("idle", () => { document.body.dataset.mapIdle = "1"; });
  const loaded = new Promise((resolve) => map.on("load", resolve));
  let shown = [];  // [source id, [layer ids]] of the archive on the map

  function geometryOf(metadata, id) {
    const stats = ((metadata.tilestats || {}).layers || []).find((l) => l.layer === id);
    return stats ? stats.geometry : "Point";
  }

  async function open(archive) {
    status.textContent = "opening " + archive.source.getKey() + " …";
    const [header, metadata] = await Promise.all([archive.getHeader(), archive.getMetadata()]);
    if (header.tileType !== pmtiles.TileType.Mvt) {
      throw new Error("not a vector (MVT) archive");
    }
    await loaded;
    protocol.add(archive);
    for (const [source, ids] of shown) {  // replace the archive shown before
      ids.forEach((id) => map.removeLayer(id));
      map.removeSource(source);
    }
    const form = document.getElementById("layers");
    form.replaceChildren();
    const source = "archive";
    map.addSource(source, { type: "vector", url: "pmtiles://" + archive.source.getKey() });
    const ids = (metadata.vector_layers || []).map((l) => l.id)
      .sort((a, c) => (ORDER.indexOf(a) + 99) % 99 - (ORDER.indexOf(c) + 99) % 99);
    for (const id of ids) {
      map.addLayer(styleFor(id, source, geometryOf(metadata, id)));
      checkbox(form, id, id, colorOf(id), true, (on) =>
        map.setLayoutProperty(id, "visibility", on ? "visible" : "none"));
      map.on("click", id, (e) => {
        new maplibregl.Popup().setLngLat(e.lngLat)
          .setHTML(popupHtml(id, e.features[0].properties)).addTo(map);
      });
    }
    shown = [[source, ids]];
    map.fitBounds([[header.minLon, header.minLat], [header.maxLon, header.maxLat]],
      { padding: 20, animate: false });
    if (map.getZoom() < header.minZoom) map.setZoom(header.minZoom);
    document.body.dataset.mapIdle = "0";
    status.textContent = archive.source.getKey() + " · " + ids.length + " layers · z"
      + header.minZoom + "–" + header.maxZoom;
    document.body.dataset.archive = archive.source.getKey();
  }

  const fail = (err) => { status.textContent = "error: " + err.message; console.error(err); };
  document.getElementById("file").addEventListener("change", (e) => {
    const file = e.target.files[0];
    if (file) open(new pmtiles.PMTiles(new pmtiles.FileSource(file))).catch(fail);
  });
  const url = new URLSearchParams(window.location.search).get("url");
  if (url) open(new pmtiles.PMTiles(new URL(url, window.location.href).href)).catch(fail);
})();
