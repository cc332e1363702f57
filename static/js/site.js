/* Site-wide behaviour without inline handlers (the Content-Security-Policy allows no inline script): a form
 * marked data-submit-on-change submits when one of its fields changes (the language picker). */
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    var form = event.target.form;
    if (form && form.hasAttribute("data-submit-on-change")) { form.submit(); }
  });
})();
