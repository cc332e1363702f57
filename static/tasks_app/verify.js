/* Verification page: "Is this photo at this pin?" The pin on a map, the Street View the pinner recorded, and the
   photo side by side; yes / nearby / no with a click or a key. Answers go through crowd.js (window.Crowd). */
(function () {
  "use strict";
  var C = window.Crowd, data = C.data, msg = C.msg;
  var ref = data.reference;

  function round6(v) { return Math.round(v * 1e6) / 1e6; }
  function hasView() { return ref.pano_lat !== null && ref.pano_lon !== null; }

  // A photo that cannot be shown cannot be checked: the page-problem banner says so and offers the next task.
  C.watchImage(document.getElementById("task-image"));

  // --- The pin, on a map zoomed to the street. ---
  var map = L.map("task-map", {worldCopyJump: true});
  L.tileLayer(data.tile_url, {attribution: data.tile_attribution, maxZoom: 19}).addTo(map);
  L.marker([ref.lat, ref.lon], {title: msg.checked_pin, alt: msg.checked_pin, keyboard: false}).addTo(map)
    .bindTooltip(msg.checked_pin);
  map.setView([ref.lat, ref.lon], 17);

  // --- Street View at the recorded view: embedded with a key, else a link; Mapillary when a token is set. ---
  var where = hasView() ? round6(ref.pano_lat) + "," + round6(ref.pano_lon) : round6(ref.lat) + "," + round6(ref.lon);
  var heading = ref.pano_heading === null ? 0 : ref.pano_heading;
  var pitch = ref.pano_pitch === null ? 0 : ref.pano_pitch;
  if (!hasView()) {
    var missing = document.getElementById("verify-streetview-missing");
    missing.textContent = msg.no_view;  // text only
    missing.hidden = false;
  }
  if (data.google_maps_embed_key) {
    var frame = document.createElement("iframe");
    frame.title = msg.streetview_view;
    frame.loading = "lazy";
    frame.referrerPolicy = "no-referrer-when-downgrade";
    frame.allowFullscreen = true;
    frame.src = "https://www.google.com/maps/embed/v1/streetview?key=" + encodeURIComponent(data.google_maps_embed_key) +
      "&location=" + where + "&heading=" + heading + "&pitch=" + pitch + "&fov=80";
    document.getElementById("verify-streetview-embed").appendChild(frame);
  } else {
    var link = document.getElementById("verify-streetview-link");
    link.href = "https://www.google.com/maps/@?api=1&map_action=pano&viewpoint=" + where + "&heading=" + heading +
      "&pitch=" + pitch;
    link.hidden = false;
  }
  if (data.mapillary_token) {
    var mly = document.getElementById("verify-mapillary-link");
    mly.href = "https://www.mapillary.com/app/?lat=" + round6(ref.lat) + "&lng=" + round6(ref.lon) + "&z=17";
    mly.hidden = false;
  }

  // --- Answer: a click or a key (Y / R / N, or 1 / 2 / 3), S to skip. ---
  var buttons = document.querySelectorAll(".crowd-verify-answer");
  function answer(button) {
    button.classList.add("crowd-pressed");
    // The pin shown goes with the verdict: if another pin replaced it meanwhile, the server refuses the answer.
    C.submit({verdict: button.dataset.verdict, checked_lat: ref.lat, checked_lon: ref.lon});
  }
  Array.prototype.forEach.call(buttons, function (button) {
    button.addEventListener("click", function () { answer(button); });
  });
  var byNumber = {"1": "yes", "2": "nearby", "3": "no"};
  document.addEventListener("keydown", function (event) {
    if (C.isTyping(event) || event.ctrlKey || event.metaKey || event.altKey) { return; }
    var key = event.key.toLowerCase();
    var verdict = byNumber[key];
    var button = verdict
      ? document.querySelector('.crowd-verify-answer[data-verdict="' + verdict + '"]')
      : document.querySelector('.crowd-verify-answer[data-key="' + key + '"]');
    if (button) {
      event.preventDefault();
      answer(button);
    } else if (key === "s") {
      event.preventDefault();
      C.skip();
    }
  });
  C.ready();  // set up: a problem from now on is this task's, not a page that never worked
})();
