/* Geolocation and review pages: zoomable photo, Leaflet map with the text-derived guess, pin, Street View, keys. */
(function () {
  "use strict";
  var C = window.Crowd, data = C.data, msg = C.msg;

  // --- The photo: wheel or buttons to zoom, drag to pan (pointer events work with touch too). ---
  var box = document.getElementById("image-zoom");
  var img = document.getElementById("task-image");
  var scale = 1, x = 0, y = 0, drag = null;
  function applyZoom() { img.style.transform = "translate(" + x + "px," + y + "px) scale(" + scale + ")"; }
  function zoom(factor, cx, cy) {
    var next = Math.min(8, Math.max(1, scale * factor));
    if (cx === undefined) { cx = box.clientWidth / 2; cy = box.clientHeight / 2; }
    x = cx - (cx - x) * next / scale;
    y = cy - (cy - y) * next / scale;
    scale = next;
    if (scale === 1) { x = 0; y = 0; }
    applyZoom();
  }
  box.addEventListener("wheel", function (e) {
    e.preventDefault();
    var r = box.getBoundingClientRect();
    zoom(e.deltaY < 0 ? 1.25 : 0.8, e.clientX - r.left, e.clientY - r.top);
  }, {passive: false});
  box.addEventListener("pointerdown", function (e) {
    if (scale === 1) { return; }
    drag = {px: e.clientX, py: e.clientY, x: x, y: y};
    box.setPointerCapture(e.pointerId);
  });
  box.addEventListener("pointermove", function (e) {
    if (!drag) { return; }
    x = drag.x + e.clientX - drag.px;
    y = drag.y + e.clientY - drag.py;
    applyZoom();
  });
  box.addEventListener("pointerup", function () { drag = null; });
  box.addEventListener("dblclick", function (e) {
    var r = box.getBoundingClientRect();
    zoom(scale >= 4 ? 0 : 2, e.clientX - r.left, e.clientY - r.top);
  });
  document.getElementById("zoom-in").addEventListener("click", function () { zoom(1.5); });
  document.getElementById("zoom-out").addEventListener("click", function () { zoom(1 / 1.5); });
  document.getElementById("zoom-reset").addEventListener("click", function () { zoom(0); });

  // --- The map: centred on the text-derived guess and its circle, else on the crisis area. ---
  var map = L.map("task-map", {worldCopyJump: true});
  L.tileLayer(data.tile_url, {attribution: data.tile_attribution, maxZoom: 19}).addTo(map);
  var guess = data.text_guess;
  if (data.reference) {
    var ref = L.marker([data.reference.lat, data.reference.lon], {title: msg.reference, keyboard: false}).addTo(map);
    ref.bindTooltip(msg.reference);
    if (data.reference.radius_m) {
      map.fitBounds(L.circle([data.reference.lat, data.reference.lon], {radius: data.reference.radius_m,
        color: "#2c6fbb", weight: 1, fillOpacity: 0.08}).addTo(map).getBounds());
    } else {
      map.setView([data.reference.lat, data.reference.lon], 16);
    }
  } else if (guess) {
    L.circleMarker([guess.lat, guess.lon], {radius: 6, color: "#d35400", fillOpacity: 0.9}).addTo(map)
      .bindTooltip(msg.guess);
    if (guess.radius_m) {
      var circle = L.circle([guess.lat, guess.lon], {radius: guess.radius_m, color: "#d35400", weight: 1,
        fillOpacity: 0.06, interactive: false}).addTo(map);
      map.fitBounds(circle.getBounds());
    } else {
      map.setView([guess.lat, guess.lon], 14);
    }
    (guess.candidates || []).forEach(function (place) {
      if (place.lat === undefined || place.lon === undefined) { return; }
      L.circleMarker([place.lat, place.lon], {radius: 4, color: "#8e44ad"}).addTo(map).bindTooltip(String(place.name || ""));
    });
  } else if (data.crisis_area) {
    var area = L.geoJSON(data.crisis_area, {style: {color: "#c0392b", weight: 2, fillOpacity: 0.05}, interactive: false});
    area.addTo(map);
    map.fitBounds(area.getBounds());
  } else {
    map.setView([20, 0], 2);
  }

  var pin = null;
  var readout = document.getElementById("pin-readout");
  function pinLatLng() { return pin ? pin.getLatLng().wrap() : null; }
  function round6(v) { return Math.round(v * 1e6) / 1e6; }
  function setPin(latlng) {
    if (!pin) {
      pin = L.marker(latlng, {draggable: true, title: msg.pin, alt: msg.pin}).addTo(map);
      pin.on("dragend", pinMoved);
    } else {
      pin.setLatLng(latlng);
    }
    pinMoved();
  }
  function pinMoved() {
    var p = pinLatLng();
    readout.textContent = msg.pin_at + " " + round6(p.lat).toFixed(6) + ", " + round6(p.lng).toFixed(6);
    if (data.kind === "review") { document.querySelector('input[name=verdict][value=correct]').checked = true; }
    updateStreetView();
  }
  map.on("click", function (e) { setPin(e.latlng.wrap()); });

  // --- Street View: the Embed API when a key is configured, else a link; Mapillary when a token is. ---
  var sv = document.getElementById("streetview");
  var headingInput = document.getElementById("pano-heading");
  var pitchInput = document.getElementById("pano-pitch");
  var svLink = document.getElementById("streetview-link");
  var mlyLink = document.getElementById("mapillary-link");
  var embed = document.getElementById("streetview-embed");
  var embedTimer = null;
  function updateStreetView() {
    var p = pinLatLng();
    document.getElementById("streetview-hint").hidden = !!p;
    if (!p) { return; }
    var where = round6(p.lat) + "," + round6(p.lng);
    var heading = headingInput.value, pitch = pitchInput.value;
    svLink.href = "https://www.google.com/maps/@?api=1&map_action=pano&viewpoint=" + where +
      "&heading=" + heading + "&pitch=" + pitch;
    svLink.hidden = !!data.google_maps_embed_key;
    if (data.mapillary_token) {
      mlyLink.href = "https://www.mapillary.com/app/?lat=" + round6(p.lat) + "&lng=" + round6(p.lng) + "&z=17";
      mlyLink.hidden = false;
    }
    if (data.google_maps_embed_key && sv.open) {
      clearTimeout(embedTimer);
      embedTimer = setTimeout(function () {
        var frame = embed.querySelector("iframe");
        if (!frame) {
          frame = document.createElement("iframe");
          frame.title = msg.streetview;
          frame.loading = "lazy";
          frame.referrerPolicy = "no-referrer-when-downgrade";
          frame.allowFullscreen = true;
          embed.appendChild(frame);
        }
        frame.src = "https://www.google.com/maps/embed/v1/streetview?key=" +
          encodeURIComponent(data.google_maps_embed_key) + "&location=" + where + "&heading=" + heading +
          "&pitch=" + pitch + "&fov=80";
      }, 300);
    }
  }
  sv.addEventListener("toggle", updateStreetView);
  headingInput.addEventListener("input", updateStreetView);
  pitchInput.addEventListener("input", updateStreetView);

  // --- Place search (bundled gazetteer on the server). ---
  var search = document.getElementById("place-search");
  var results = document.getElementById("place-results");
  var searchTimer = null;
  search.addEventListener("input", function () {
    clearTimeout(searchTimer);
    var q = search.value.trim();
    if (q.length < 2) { results.textContent = ""; return; }
    searchTimer = setTimeout(function () {
      fetch(data.urls.places + "?q=" + encodeURIComponent(q), {credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.json() : []; })
        .then(function (places) {
          results.textContent = "";
          places.forEach(function (place) {
            var li = document.createElement("li");
            var button = document.createElement("button");
            button.type = "button";
            button.textContent = place.name;  // textContent: names are never parsed as HTML
            button.addEventListener("click", function () {
              map.setView([place.lat, place.lon], 14);
              results.textContent = "";
            });
            li.appendChild(button);
            results.appendChild(li);
          });
        });
    }, 250);
  });

  // --- Answer. ---
  function checked(name) {
    var input = document.querySelector("input[name=" + name + "]:checked");
    return input ? input.value : "";
  }
  function submitAnswer() {
    var p = pinLatLng();
    var fields = {clue_tags: Array.prototype.map.call(document.querySelectorAll("input[name=clue]:checked"),
      function (input) { return input.value; })};
    if (data.kind === "review") {
      fields.verdict = checked("verdict");
      if (fields.verdict === "correct") {
        if (!p) { C.say(msg.place_pin, "error"); return; }
        fields.lat = round6(p.lat);
        fields.lon = round6(p.lng);
      }
    } else {
      fields.precision = checked("precision");
      if (fields.precision !== "cannot") {
        if (!p) { C.say(msg.place_pin, "error"); return; }
        fields.lat = round6(p.lat);
        fields.lon = round6(p.lng);
        if (document.getElementById("pano-used").checked) {
          fields.pano_lat = fields.lat;
          fields.pano_lon = fields.lon;
          fields.pano_heading = Number(headingInput.value);
          fields.pano_pitch = Number(pitchInput.value);
        }
      }
    }
    C.submit(fields).then(function (r) {
      if (r && r.status === 201 && r.body.gold_lat !== null) {
        L.marker([r.body.gold_lat, r.body.gold_lon], {title: msg.gold}).addTo(map).bindTooltip(msg.gold).openTooltip();
      }
    });
  }
  document.getElementById("submit-button").addEventListener("click", submitAnswer);

  function choose(name, value) {
    var input = document.querySelector("input[name=" + name + "][value=" + value + "]");
    if (input) { input.checked = true; input.focus(); }
  }
  var keys = data.kind === "review"
    ? {a: ["verdict", "accept"], c: ["verdict", "correct"]}
    : {h: ["precision", "high"], m: ["precision", "medium"], l: ["precision", "low"], n: ["precision", "cannot"]};
  document.addEventListener("keydown", function (event) {
    if (C.isTyping(event) || event.ctrlKey || event.metaKey || event.altKey) { return; }
    var key = event.key.toLowerCase();
    if (keys[key]) { event.preventDefault(); choose(keys[key][0], keys[key][1]); }
    else if (key === "enter" && event.target.tagName !== "BUTTON") { event.preventDefault(); submitAnswer(); }
    else if (key === "s") { event.preventDefault(); C.skip(); }
    else if (key === "v") { event.preventDefault(); sv.open = !sv.open; }
    else if (key === "+" || key === "=") { event.preventDefault(); zoom(1.5); }
    else if (key === "-") { event.preventDefault(); zoom(1 / 1.5); }
    else if (key === "0") { event.preventDefault(); zoom(0); }
  });
})();
