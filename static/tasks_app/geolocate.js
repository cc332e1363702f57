/* Geolocation and review pages: zoomable photo, Leaflet map with the text-derived search area, pin, Street View,
   place search, keys. The map gets its first view before any layer is drawn: a circle's bounds need a map with a
   view, and asking for them earlier threw and left a dead page. */
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
  C.watchImage(img);
  document.getElementById("zoom-in").addEventListener("click", function () { zoom(1.5); });
  document.getElementById("zoom-out").addEventListener("click", function () { zoom(1 / 1.5); });
  document.getElementById("zoom-reset").addEventListener("click", function () { zoom(0); });

  // --- What the volunteer did before pinning: a pin that only confirms the text's guess is weak evidence. ---
  var interaction = {map_moved: false, map_zoomed: false, place_searched: false, streetview_opened: false};
  var programmatic = 0;  // > 0 while our own code moves the map
  // The page's own moves are instant: while Leaflet animates a zoom it drops the next move (a second place clicked
  // at once was never shown), and "Enter, then P" would pin a point on the way rather than the place.
  function moveMap(action) {
    programmatic += 1;
    try { action(); } finally { programmatic -= 1; }
  }

  // --- The map: first view, then layers. ---
  var guess = data.text_guess;
  var reference = data.reference;
  var MIN_AREA_RADIUS_M = 300;  // a point guess is still a guess: show it as an area to search
  var map = L.map("task-map", {worldCopyJump: true, keyboard: true});
  var area = data.crisis_area
    ? L.geoJSON(data.crisis_area, {style: {color: "#c0392b", weight: 2, fillOpacity: 0.03, dashArray: null},
      interactive: false})
    : null;

  function circleBounds(lat, lon, radiusM) {
    return L.latLng(lat, lon).toBounds(2 * Math.max(radiusM || 0, MIN_AREA_RADIUS_M));
  }
  function firstView() {
    if (reference) { return circleBounds(reference.lat, reference.lon, reference.radius_m || 150); }
    if (guess && !guess.outside_area && !guess.wider_than_area) {
      return circleBounds(guess.lat, guess.lon, guess.radius_m);
    }
    if (area) { return area.getBounds(); }
    if (guess) { return circleBounds(guess.lat, guess.lon, guess.radius_m); }
    return countriesBounds();
  }
  // A crisis without a drawn area is its countries: open there, not on the whole world, when the text names no place.
  function countriesBounds() {
    var bounds = null;
    (data.crisis_countries || []).forEach(function (country) {
      var circle = circleBounds(country.lat, country.lon, country.radius_m);
      bounds = bounds ? bounds.extend(circle) : circle;
    });
    return bounds;
  }
  moveMap(function () {
    var bounds = firstView();
    if (bounds && bounds.isValid()) { map.fitBounds(bounds, {maxZoom: 17}); } else { map.setView([20, 0], 2); }
  });
  L.tileLayer(data.tile_url, {attribution: data.tile_attribution, maxZoom: 19}).addTo(map);
  if (area) { area.addTo(map); }

  if (reference) {
    L.marker([reference.lat, reference.lon], {title: msg.reference, keyboard: false, interactive: false}).addTo(map);
    if (reference.radius_m) {
      L.circle([reference.lat, reference.lon], {radius: reference.radius_m, color: "#2c6fbb", weight: 1,
        fillOpacity: 0.08, interactive: false}).addTo(map);
    }
  } else if (guess) {
    // An area to search, never a point to click: no marker at its centre.
    L.circle([guess.lat, guess.lon], {radius: Math.max(guess.radius_m || 0, MIN_AREA_RADIUS_M), color: "#d35400",
      weight: 2, dashArray: "6 6", fillOpacity: 0.04, interactive: false}).addTo(map);
  }
  (guess && guess.candidates || []).forEach(function (place) {
    L.circleMarker([place.lat, place.lon], {radius: 4, color: "#8e44ad", weight: 2, fillOpacity: 0.3,
      interactive: false}).addTo(map)
      .bindTooltip(String(place.label), {permanent: true, direction: "right", className: "crowd-candidate-label"});
  });

  map.on("dragstart", function () { interaction.map_moved = true; });
  map.on("zoomstart", function () { if (!programmatic) { interaction.map_zoomed = true; } });
  map.on("movestart", function () { if (!programmatic) { interaction.map_moved = true; } });

  // Buttons that show the text's places (several candidates, or a guess outside the crisis area).
  document.querySelectorAll("[data-goto-lat]").forEach(function (button) {
    button.addEventListener("click", function () {
      var lat = Number(button.dataset.gotoLat), lon = Number(button.dataset.gotoLon);
      moveMap(function () {
        map.fitBounds(circleBounds(lat, lon, Number(button.dataset.gotoRadius)), {maxZoom: 15, animate: false});
      });
      document.getElementById("task-map").focus();
    });
  });
  var showCountries = document.getElementById("show-crisis-countries");
  if (showCountries && countriesBounds()) {
    showCountries.addEventListener("click", function () {
      moveMap(function () { map.fitBounds(countriesBounds(), {animate: false}); });
    });
  }
  var showArea = document.getElementById("show-crisis-area");
  if (showArea && area) {
    showArea.addEventListener("click", function () {
      moveMap(function () { map.fitBounds(area.getBounds(), {animate: false}); });
    });
  }

  // --- The pin: click or tap the map, or P at the map's centre (keyboard). ---
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
    if (data.kind === "review") { document.querySelector("input[name=verdict][value=correct]").checked = true; }
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
  sv.addEventListener("toggle", function () {
    if (sv.open) { interaction.streetview_opened = true; }
    updateStreetView();
  });
  [svLink, mlyLink].forEach(function (link) {
    link.addEventListener("click", function () { interaction.streetview_opened = true; });
  });
  headingInput.addEventListener("input", updateStreetView);
  pitchInput.addEventListener("input", updateStreetView);

  // --- Place search (the offline gazetteer on the server). Enter takes the first place found. ---
  var search = document.getElementById("place-search");
  var results = document.getElementById("place-results");
  var searchNote = document.getElementById("place-search-note");
  var searchTimer = null;
  var found = [];
  var foundFor = null;  // the query whose places are shown
  // "Enter, then P" before the server has answered: the pin waits for the map to reach the place.
  var searching = false;
  var pinOnArrival = false;
  function arrived() {
    searching = false;
    if (pinOnArrival) { pinOnArrival = false; setPin(map.getCenter().wrap()); }
  }
  function goToPlace(place) {
    interaction.place_searched = true;
    moveMap(function () { map.setView([place.lat, place.lon], 14, {animate: false}); });
    results.textContent = "";
    searchNote.textContent = place.name;
    document.getElementById("task-map").focus();
  }
  function runSearch(q, then, failed) {
    fetch(data.urls.places + "?q=" + encodeURIComponent(q), {credentials: "same-origin",
      headers: {"Accept": "application/json"}})
      .then(function (r) {
        if (!r.ok) { throw new Error(String(r.status)); }
        return r.json();
      })
      .then(function (places) {
        if (search.value.trim() !== q) {  // the volunteer typed on: a later answer is coming
          if (failed) { failed(); }
          return;
        }
        found = places;
        foundFor = q;
        results.textContent = "";
        searchNote.textContent = places.length ? "" : msg.no_place;
        places.forEach(function (place) {
          var li = document.createElement("li");
          var button = document.createElement("button");
          button.type = "button";
          button.textContent = place.name;  // textContent: names are never parsed as HTML
          button.addEventListener("click", function () { goToPlace(place); });
          li.appendChild(button);
          results.appendChild(li);
        });
        if (then) { then(); }
      }).catch(function () {
        searchNote.textContent = msg.search_failed;
        if (failed) { failed(); }
      });
  }
  search.addEventListener("input", function () {
    clearTimeout(searchTimer);
    var q = search.value.trim();
    if (q.length < 2) { results.textContent = ""; searchNote.textContent = ""; found = []; return; }
    searchTimer = setTimeout(function () { runSearch(q); }, 250);
  });
  search.addEventListener("keydown", function (event) {
    if (event.key === "Enter") {
      event.preventDefault();
      clearTimeout(searchTimer);
      var q = search.value.trim();
      if (q.length < 2) { return; }
      // The map takes the keys at once: what is typed while the server answers moves the map, not the query.
      document.getElementById("task-map").focus();
      if (foundFor === q && found.length) { goToPlace(found[0]); return; }
      searching = true;
      runSearch(q, function () { if (found.length) { goToPlace(found[0]); } arrived(); }, arrived);
    } else if (event.key === "Escape") {
      results.textContent = "";
    }
  });

  // --- Answer. ---
  function checked(name) {
    var input = document.querySelector("input[name=" + name + "]:checked");
    return input ? input.value : "";
  }
  function submitAnswer() {
    var p = pinLatLng();
    var fields = {
      clue_tags: Array.prototype.map.call(document.querySelectorAll("input[name=clue]:checked"),
        function (input) { return input.value; }),
      interaction: interaction
    };
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
      if (r && r.status === 201 && r.body.gold_lat !== null && r.body.gold_lat !== undefined) {
        L.marker([r.body.gold_lat, r.body.gold_lon], {title: msg.gold}).addTo(map).bindTooltip(msg.gold).openTooltip();
      }
    });
  }
  document.getElementById("submit-button").addEventListener("click", submitAnswer);

  function choose(name, value) {
    var input = document.querySelector("input[name=" + name + "][value=" + value + "]");
    if (input) { input.checked = true; input.focus(); }
  }
  var mapBox = document.getElementById("task-map");
  var keys = data.kind === "review"
    ? {a: ["verdict", "accept"], c: ["verdict", "correct"]}
    : {h: ["precision", "high"], m: ["precision", "medium"], l: ["precision", "low"], n: ["precision", "cannot"]};
  document.addEventListener("keydown", function (event) {
    if (C.isTyping(event) || event.ctrlKey || event.metaKey || event.altKey) { return; }
    var key = event.key.toLowerCase();
    var onMap = mapBox.contains(event.target);
    if (keys[key]) { event.preventDefault(); choose(keys[key][0], keys[key][1]); }
    else if (key === "p") {
      event.preventDefault();
      if (searching) { pinOnArrival = true; } else { setPin(map.getCenter().wrap()); }
    }
    else if (key === "enter" && event.target.tagName !== "BUTTON" && event.target.tagName !== "A" &&
             event.target.tagName !== "SUMMARY") { event.preventDefault(); submitAnswer(); }
    else if (key === "s") { event.preventDefault(); C.skip(); }
    else if (key === "v") { event.preventDefault(); sv.open = !sv.open; }
    else if (key === "f") { event.preventDefault(); search.focus(); }
    else if (onMap) { return; }  // arrows and + / - move and zoom the map (Leaflet's keyboard handler)
    else if (key === "+" || key === "=") { event.preventDefault(); zoom(1.5); }
    else if (key === "-") { event.preventDefault(); zoom(1 / 1.5); }
    else if (key === "0") { event.preventDefault(); zoom(0); }
  });

  // The map may have been laid out before the page's fonts and columns settled.
  setTimeout(function () { moveMap(function () { map.invalidateSize(); }); }, 0);
  C.ready();
})();
