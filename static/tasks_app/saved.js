/* The page a volunteer reaches when no task is left: it still confirms the answer that emptied the queue
   (crowd.js keeps the confirmation in sessionStorage across the reload that brings the next page). */
(function () {
  "use strict";
  var box = document.getElementById("crowd-saved");
  try {
    var saved = window.sessionStorage.getItem("crowd.saved");
    if (saved && box) {
      window.sessionStorage.removeItem("crowd.saved");
      box.textContent = saved;
      box.hidden = false;
    }
  } catch (e) { /* storage off: the task page's status line said it before the reload */ }
}());
