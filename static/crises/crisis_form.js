/* Tag inputs for the crisis form's lists (languages, countries, hashtags): each item becomes a chip with a remove
 * button; Enter, comma or leaving the field adds what was typed. The original text input stays in the form,
 * hidden, and holds the items separated by commas: without this script the form works the same. */
(function () {
  "use strict";

  var SEPARATORS = /[,;\n]+/;

  function items(input) {
    return input.value.split(SEPARATORS).map(function (item) { return item.trim(); })
      .filter(function (item) { return item; });
  }

  // Items are written the standard way as they are typed (the server does the same): en, pt; BR, US; no "#".
  function written(input, item) {
    var strip = input.getAttribute("data-tag-strip");
    if (strip && item.indexOf(strip) === 0) { item = item.slice(strip.length); }
    var letterCase = input.getAttribute("data-tag-case");
    if (letterCase === "upper") { return item.toUpperCase(); }
    if (letterCase === "lower") { return item.toLowerCase(); }
    return item;
  }

  function enhance(input) {
    var box = document.createElement("div");
    box.className = "tag-input";
    var chips = document.createElement("ul");
    chips.className = "tag-input-chips";
    var entry = document.createElement("input");
    entry.type = "text";
    entry.className = "tag-input-entry";
    entry.id = input.id + "-entry";
    entry.placeholder = input.placeholder;
    entry.setAttribute("autocomplete", "off");
    var label = document.querySelector('label[for="' + input.id + '"]');
    if (label) { label.htmlFor = entry.id; }
    box.appendChild(chips);
    box.appendChild(entry);
    input.parentNode.insertBefore(box, input);
    input.hidden = true;

    function store(list) { input.value = list.join(", "); render(); }

    function render() {
      chips.replaceChildren();
      items(input).forEach(function (item, index) {
        var chip = document.createElement("li");
        chip.appendChild(document.createTextNode(item));
        var remove = document.createElement("button");
        remove.type = "button";
        remove.textContent = "×";
        remove.setAttribute("aria-label", (input.getAttribute("data-remove-label") || "Remove") + " " + item);
        remove.addEventListener("click", function () {
          var list = items(input);
          list.splice(index, 1);
          store(list);
          entry.focus();
        });
        chip.appendChild(remove);
        chips.appendChild(chip);
      });
      entry.placeholder = items(input).length ? "" : input.placeholder;
    }

    function add() {
      var typed = entry.value.split(SEPARATORS).map(function (item) { return item.trim(); })
        .filter(function (item) { return item; });
      entry.value = "";
      if (!typed.length) { return; }
      var list = items(input);
      typed.map(function (item) { return written(input, item); })
        .forEach(function (item) { if (list.indexOf(item) < 0) { list.push(item); } });
      store(list);
    }

    entry.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === ",") {
        event.preventDefault();  // Enter would submit the whole form
        add();
      } else if (event.key === "Backspace" && !entry.value) {
        var list = items(input);
        list.pop();
        store(list);
      }
    });
    entry.addEventListener("blur", add);
    box.closest("form").addEventListener("submit", add);
    box.addEventListener("click", function (event) { if (event.target === box) { entry.focus(); } });
    render();
  }

  function start() { document.querySelectorAll("input[data-tag-input]").forEach(enhance); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
