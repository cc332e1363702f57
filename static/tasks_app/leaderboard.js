/* The leaderboard of a crisis's work page, kept current: fetched every refreshSeconds while the page is visible
 * (the server recomputes it when it is older than that), at once on "Refresh" and when the page comes back into
 * view. Names go into the page as text only. */
(function () {
  "use strict";

  var box = document.getElementById("leaderboard");
  if (!box) { return; }
  var config = JSON.parse(document.getElementById("leaderboard-config").textContent);
  var list = document.getElementById("leaderboard-list");
  var empty = document.getElementById("leaderboard-empty");
  var stamp = document.getElementById("leaderboard-time");
  var computedAt = null;
  var ageAt = null;  // [the data's age when received, in s; Date.now() then]: no trust in the clocks agreeing
  var failed = false;
  var timer = null;

  function showAge() {
    if (failed) { stamp.textContent = config.failed; return; }
    if (!computedAt) { stamp.textContent = ""; return; }
    var age = Math.max(0, Math.round(ageAt[0] + (Date.now() - ageAt[1]) / 1000));
    stamp.textContent = config.dataOf.replace("{time}", computedAt.toLocaleTimeString()).replace("{age}", String(age));
  }

  function draw(body) {
    list.replaceChildren();
    body.entries.forEach(function (entry) {
      var item = document.createElement("li");
      var name = document.createElement("span");
      name.textContent = entry.name;
      var count = document.createElement("span");
      count.className = "crowd-small";
      count.textContent = entry.answers_text;
      item.appendChild(name);
      item.appendChild(document.createTextNode(" "));
      item.appendChild(count);
      list.appendChild(item);
    });
    empty.hidden = body.entries.length > 0;
  }

  function schedule() {
    clearTimeout(timer);
    if (!document.hidden) { timer = setTimeout(load, config.refreshSeconds * 1000); }
  }

  function load() {
    clearTimeout(timer);
    fetch(config.url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (body) {
        failed = false;
        computedAt = body.computed_at ? new Date(body.computed_at) : null;
        ageAt = [body.age_seconds || 0, Date.now()];
        draw(body);
      })
      .catch(function () { failed = true; })
      .finally(function () { showAge(); schedule(); });
  }

  document.getElementById("leaderboard-refresh").addEventListener("click", load);
  document.addEventListener("visibilitychange", function () { if (document.hidden) { clearTimeout(timer); } else { load(); } });
  setInterval(showAge, 1000);
  load();
})();
